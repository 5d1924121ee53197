"""The quota screen (`:quota`) against a simulated cluster: rows, pressure order, blocked work, edit quota.

The edit is checked end to end (confirmation with the exact PATCH, a reason, the simulator's quota
changed, audit rows before and after, the Event); refusals by counting the write requests that
reached the simulator.
"""

from __future__ import annotations

from prophecis_tui.simulator.engine import QUOTAS
from screens.modals import AskValue, ConfirmAction
from screens.quota import QuotaScreen

from .test_console import settle
from .test_workloads import open_screen, put_cursor_on, sim_events, stage_jobs, table, writes

GPU = "requests.nvidia.com/gpu"
KEY = "prophecis.webank.com/gpu-max"


def sim_quota(console, ns: str) -> dict:
    return console.thread.call(console.sim.engine.store.get, QUOTAS, ns, "mlss-default-rq")


def sim_quotas(console) -> dict[str, tuple[float, float]]:
    """namespace -> (status.used, spec.hard) GPUs of every mlss-default-rq that counts GPUs."""
    out = {}
    for q in console.thread.call(lambda: list(console.sim.engine.store.objects(QUOTAS))):
        hard = (q.get("spec") or {}).get("hard") or {}
        if GPU in hard:
            used = ((q.get("status") or {}).get("used") or {}).get(GPU, "0")
            out[q["metadata"]["namespace"]] = (float(used), float(hard[GPU]))
    return out


async def open_quota(pilot, app):
    t = await open_screen(pilot, app, "quota", QuotaScreen)
    await settle(pilot, lambda: app.screen.context is not None)
    return t


def detail(app) -> str:
    return str(app.screen.query_one("#detail").render())


async def test_rows_are_the_simulators_quotas_highest_pressure_first(console):
    app = console.app()
    async with app.run_test(size=(200, 50)) as pilot:
        t = await open_quota(pilot, app)
        expected = sim_quotas(console)
        await settle(pilot, lambda: {r.namespace: (r.p.gpu_used, r.p.gpu_base) for r in t.rows
                                     if r.p.gpu_base is not None} == sim_quotas(console))
        assert expected
        pressures = [r.p.pressure for r in t.rows if r.p.pressure is not None]
        assert pressures == sorted(pressures, reverse=True)
        top = t.rows[0].p
        used, base = expected[top.namespace]
        line = t.row_texts()[0]
        assert top.namespace in line and f"{used:g}/{base:g}/-" in line and f"{used / base * 100:.0f}%" in line
        assert "sorted by PRESS" in str(app.screen.query_one("#summary").render())
        assert f"status.used {used:g} GPU" in detail(app) and "nodes (" in detail(app)
        # ctrl+p-free way back: :quotas is an alias
        app.run_command("quotas")
        await settle(pilot, lambda: isinstance(app.screen, QuotaScreen))


async def test_a_namespace_whose_quota_is_exhausted_shows_its_blocked_work(console):
    _, held = stage_jobs(console)  # a TFJob asking more GPUs than its namespace's whole quota
    ns = console.sim.world.tenants[1].name
    app = console.app()
    async with app.run_test(size=(200, 50)) as pilot:
        t = await open_quota(pilot, app)
        await settle(pilot, lambda: any(r.namespace == ns and any(b.name == held for b in r.p.blocked)
                                        for r in t.rows))
        row = await put_cursor_on(pilot, app, lambda r: r.namespace == ns)
        blocked = next(b for b in row.p.blocked if b.name == held)
        assert blocked.cause == "quota" and blocked.kind == "TFJob"
        text = t.row_texts()[t.rows.index(row)]
        assert f"TFJob/{held}" in text
        await settle(pilot, lambda: f"TFJob/{held}" in detail(app))
        assert "blocked by quota" in detail(app) and "quota mlss-default-rq: needs" in detail(app)
        # `/blocked` keeps only the namespaces with blocked work
        await pilot.press("slash", *"blocked", "enter")
        await settle(pilot, lambda: t.row_count and all(r.p.blocked for r in t.rows))


async def test_edit_quota_end_to_end(console):
    app = console.app(quota_max_annotation="mlss.example.com/gpu-max")
    async with app.run_test(size=(200, 50)) as pilot:
        t = await open_quota(pilot, app)
        row = await put_cursor_on(pilot, app, lambda r: r.p.gpu_base is not None and r.p.gpu_base >= 2)
        ns, base = row.namespace, int(row.p.gpu_base)
        screen = app.screen
        before = len(writes(console))
        await pilot.press("E")
        await settle(pilot, lambda: isinstance(app.screen, AskValue))
        assert "requests.nvidia.com/gpu" in str(app.screen.query_one("#prompt").render())
        await pilot.press("ctrl+a", "ctrl+k", *str(base - 1), "enter")
        await settle(pilot, lambda: isinstance(app.screen, AskValue) and "max" in app.screen.prompt)
        assert "mlss.example.com/gpu-max" in app.screen.prompt
        await pilot.press("ctrl+a", "ctrl+k", *str(base + 4), "enter")
        await settle(pilot, lambda: isinstance(app.screen, ConfirmAction))
        assert app.screen.call == (f"PATCH /api/v1/namespaces/{ns}/resourcequotas/mlss-default-rq (merge) "
                                   f'{{"metadata":{{"annotations":{{"mlss.example.com/gpu-max":"{base + 4}"}}}},'
                                   f'"spec":{{"hard":{{"{GPU}":"{base - 1}"}}}}}}')
        assert app.screen.needs_reason
        assert len(writes(console)) == before  # nothing sent while asking
        await pilot.press("enter")  # no reason: refused by the dialog
        await settle(pilot, lambda: "reason is required" in str(app.screen.query_one("#why").render()))
        await pilot.press(*"burst for month-end scoring", "enter")
        await settle(pilot, lambda: sim_quota(console, ns)["spec"]["hard"][GPU] == str(base - 1))
        q = sim_quota(console, ns)
        assert q["metadata"]["annotations"]["mlss.example.com/gpu-max"] == str(base + 4)
        await settle(pilot, lambda: any(r.action == "quota.edit" and r.phase == "after" for r in console.audit.records()))
        rows = [r for r in console.audit.records() if r.action == "quota.edit"]
        assert [(r.phase, r.outcome) for r in rows] == [("before", "started"), ("after", "ok")]
        assert rows[0].target == f"ResourceQuota/{ns}/mlss-default-rq" and rows[0].reason == "burst for month-end scoring"
        assert rows[0].params["base"] == base - 1 and rows[0].params["max"] == base + 4
        await settle(pilot, lambda: any(e["involvedObject"]["name"] == "mlss-default-rq"
                                        and e["metadata"]["namespace"] == ns
                                        and "burst for month-end scoring" in e["message"]
                                        for e in sim_events(console, "ProphecisTUIEditQuota")))
        # the row follows: the new base, the max from the configured annotation
        await settle(pilot, lambda: isinstance(app.screen, QuotaScreen) and any(
            r.namespace == ns and r.p.gpu_base == base - 1 and r.p.gpu_max == base + 4
            and r.p.max_source == "annotation" for r in t.rows))
        assert app.screen is screen


async def _refused(pilot, app, console, base: str, mx: str | None, needle: str) -> None:
    before = len(writes(console))
    await pilot.press("E")
    await settle(pilot, lambda: isinstance(app.screen, AskValue))
    await pilot.press("ctrl+a", "ctrl+k", *base, "enter")
    if mx is not None:
        await settle(pilot, lambda: isinstance(app.screen, AskValue) and "max" in app.screen.prompt)
        await pilot.press("ctrl+a", "ctrl+k", *mx, "enter")
    await settle(pilot, lambda: needle in str(app.screen.query_one("#error").render()))
    assert isinstance(app.screen, AskValue)
    await pilot.press("escape")
    await settle(pilot, lambda: isinstance(app.screen, QuotaScreen))
    assert len(writes(console)) == before
    assert not any(r.action == "quota.edit" for r in console.audit.records())


async def test_edit_quota_refusals_send_nothing(console):
    app = console.app()
    async with app.run_test(size=(200, 50)) as pilot:
        await open_quota(pilot, app)
        row = await put_cursor_on(pilot, app, lambda r: r.p.gpu_base is not None and r.p.gpu_base >= 2)
        cap = app.screen.capacity(row.namespace)
        assert cap.gpus
        await _refused(pilot, app, console, "2", "1", "cannot be above the maximum (1)")
        await _refused(pilot, app, console, str(cap.gpus + 1), None, f"above the {cap.gpus} GPUs of the nodes")
        await _refused(pilot, app, console, "two", None, "is not a number")


async def test_read_only_refuses_edit_quota(console):
    app = console.app(read_only_contexts=("sim-admin",))
    async with app.run_test(size=(200, 50)) as pilot:
        await open_quota(pilot, app)
        row = await put_cursor_on(pilot, app, lambda r: r.p.gpu_base is not None)
        before = len(writes(console))
        assert app.screen.check_action("edit_quota", ()) is False  # hidden
        await pilot.press("E")
        await settle(pilot, lambda: any("read-only" in str(n.message) for n in app._notifications))
        assert not isinstance(app.screen, AskValue)
        assert "read-only" in detail(app)
        # the registry refuses on its own too, and records the refusal
        from prophecis_tui.actions import Target
        app.perform("quota.edit", Target("ResourceQuota", row.namespace, "mlss-default-rq"),
                    {"base": 1, "max": 2, "max_annotation": KEY, "node_gpus": 8})
        await settle(pilot, lambda: any(r.action == "quota.edit" and r.outcome == "refused"
                                        for r in console.audit.records()))
        assert len(writes(console)) == before


async def test_viewer_sees_edit_quota_greyed_with_the_reason(console):
    app = console.app("sim-viewer")
    async with app.run_test(size=(200, 50)) as pilot:
        await open_quota(pilot, app)
        await put_cursor_on(pilot, app, lambda r: r.p.gpu_base is not None)
        screen = app.screen
        await settle(pilot, lambda: ("quota.edit", screen.current().namespace) in screen.perms)
        assert screen.check_action("edit_quota", ()) is None  # greyed, not hidden
        await settle(pilot, lambda: "may not patch resourcequotas" in detail(app))
        before = len(writes(console))
        await pilot.press("E")
        await settle(pilot, lambda: any("may not" in str(n.message) for n in app._notifications))
        assert not isinstance(app.screen, AskValue) and len(writes(console)) == before
        assert table(app).row_count
