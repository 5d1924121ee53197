"""The overview's GPU panel against the simulator: totals from its dcgm-exporter, the hottest GPUs, the quota
pressure; the line without a metrics source; a stale source marked, its last numbers kept."""

from __future__ import annotations

import pytest

from prophecis_tui.quota import DEFAULT_MAX_ANNOTATION, pressures
from screens.gpu import GpuScreen
from screens.overview import OverviewScreen

from .test_console import header, settle, table


def text(app, selector: str) -> str:
    return str(app.screen.query_one(selector).render())


def panel_ready(app) -> bool:
    return (isinstance(app.screen, OverviewScreen) and table(app).row_count >= 6
            and "from dcgm" in text(app, "#gpu-totals") and "/" in text(app, "#gpu-quota"))


def edit_quota(console, ns: str, hard: dict, annotations: dict | None = None) -> None:
    from prophecis_tui.simulator.engine import QUOTAS

    def change(q: dict) -> None:
        q["spec"]["hard"].update(hard)
        if annotations:
            q["metadata"].setdefault("annotations", {}).update(annotations)

    def run() -> None:
        store = console.sim.engine.store
        store.mutate(QUOTAS, ns, "mlss-default-rq", change)
        console.sim.engine.set_quota(ns, store.get(QUOTAS, ns, "mlss-default-rq")["spec"]["hard"])
    console.thread.call(run)


def hottest_first(gpus):
    return sorted((g for g in gpus if g.temp_c is not None),
                  key=lambda g: (-g.temp_c, -(g.util or 0), g.node, g.gpu))


def n(v) -> str:
    return "-" if v is None else f"{v:g}"


async def test_totals_hottest_and_quota_pressure_are_the_states_numbers(console):
    console.metrics = {}
    # one tenant bursts above its base towards a max from the annotation: near its max
    edit_quota(console, "ns-risk-scorecard", {"requests.nvidia.com/gpu": "12"}, {DEFAULT_MAX_ANNOTATION: "14"})
    app = console.app()
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(pilot, lambda: panel_ready(app) and "near max 1" in text(app, "#gpu-quota"))
        state = app.session.state
        gpus = state.gpus()
        assert len(gpus) == 64

        used, cap = state.cluster_gpus()
        assert f"{used}/{cap}" in text(app, "#cluster")
        line = text(app, "#gpu-totals")
        utils = [g.util for g in gpus if g.util is not None]
        hot = sum(1 for g in gpus if (g.temp_c or 0) >= 85)
        assert hot >= 1  # the simulator runs some GPUs hot: the count below is not a vacuous 0
        assert f"util avg {sum(utils) / len(utils):.0f}%" in line
        assert f"held {sum(1 for g in gpus if g.pod)} " in line
        assert f"busy {sum(1 for g in gpus if (g.util or 0) >= 50)} " in line
        assert f"idle {sum(1 for g in gpus if g.pod and (g.util or 0) < 5)} " in line  # held, under 5%
        assert f"hot {hot} (≥85°C)" in line
        assert "of 64 GPUs from dcgm" in line and "stale" not in line

        lines = text(app, "#gpu-hot").splitlines()
        assert lines[0].startswith("Hottest GPUs") and ":gpu" in lines[0]
        want = hottest_first(gpus)[:5]
        assert len(lines) == 1 + 5
        for row, g in zip(lines[1:], want):
            assert row.startswith(g.key + " ") and f" {g.temp_c:.0f}°C " in row and f" {g.util:.0f}% " in row
            assert row.rstrip().endswith(f"{g.namespace}/{g.pod}" if g.pod else "free")

        rows = [r for r in pressures(state) if r.pressure is not None and r.used > 0][:5]
        assert rows[0].namespace == "ns-risk-scorecard" and rows[0].near_max and rows[0].bursting
        qlines = text(app, "#gpu-quota").splitlines()
        assert qlines[0].startswith("Quota pressure") and ":quota" in qlines[0]
        assert "over max 0  near max 1  bursting 1 of 6" in qlines[0]
        assert [q.split()[0] for q in qlines[1:]] == [r.namespace for r in rows]
        for q, r in zip(qlines[1:], rows):
            assert f" {n(r.used)}/{n(r.gpu_base)}/{n(r.gpu_max)} " in q and f" {r.pressure * 100:.0f}%" in q
        assert qlines[1].rstrip().endswith("near max")

        # the :quota screen puts them in the same order
        app.run_command("quota")
        await settle(pilot, lambda: getattr(app.screen, "NAME", "") == "quota" and app.screen.table.row_count >= 6
                     and app.screen.context is not None)
        on_quota = [r.p.namespace for r in app.screen.table.rows if r.p.pressure is not None and r.p.used > 0]
        assert on_quota[:5] == [r.namespace for r in rows]


async def test_80x24_short_form_leaves_the_namespace_table_on_screen_and_keys_work(console):
    console.metrics = {}
    app = console.app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, lambda: panel_ready(app))
        gpus = app.session.state.gpus()
        hot = text(app, "#gpu-hot").splitlines()
        assert len(hot) == 3 and hot[0].startswith("Hottest ")
        for row, g in zip(hot, hottest_first(gpus)[:3]):
            assert row.split()[-4:] == [g.key, f"{g.temp_c:.0f}°", f"{g.util:.0f}%",
                                        f"{g.namespace}/{g.pod}" if g.pod else "free"]
        quota = text(app, "#gpu-quota").splitlines()
        assert len(quota) == 3 and quota[0].startswith("Quota ")
        assert ":gpu :quota" in text(app, "#gpu-totals")  # how to get to the details
        for sel in ("#cluster", "#gpu-totals", "#gpu-hot", "#gpu-quota"):
            region = app.screen.query_one(sel).region
            assert region.right <= 80 and region.height == {"#gpu-hot": 3, "#gpu-quota": 3}.get(sel, 1)
        t = table(app)
        assert t.region.bottom <= 23  # above the footer
        assert t.region.height >= t.row_count + 1  # every namespace row and the header show
        # the overview's keys still work: enter scopes to the namespace under the cursor, a shows all again
        t.focus()
        first = t.coordinate_to_cell_key(t.cursor_coordinate).row_key.value
        await pilot.press("enter")
        await settle(pilot, lambda: header(app).namespace == first and t.row_count == 1)
        await pilot.press("a")
        await settle(pilot, lambda: header(app).namespace is None and t.row_count >= 6)
        # a wider terminal: the side-by-side form, 5 each, and the cluster bar grows
        bar = text(app, "#cluster").count("░") + text(app, "#cluster").count("█")
        await pilot.resize_terminal(200, 50)
        await settle(pilot, lambda: text(app, "#gpu-hot").startswith("Hottest GPUs"))
        assert len(text(app, "#gpu-hot").splitlines()) == len(text(app, "#gpu-quota").splitlines()) == 1 + 5
        assert text(app, "#cluster").count("░") + text(app, "#cluster").count("█") > bar
        assert app.screen.query_one("#gpu-hot").region.y == app.screen.query_one("#gpu-quota").region.y
        app.run_command("gpu")  # the hint's command
        await settle(pilot, lambda: isinstance(app.screen, GpuScreen))


@pytest.mark.parametrize("metrics,says", [({"source": "none"}, "GPU metrics are off"),
                                          (None, "no GPU metrics source")], ids=["off", "unset"])
async def test_without_a_metrics_source_one_line_says_so_and_how(console, metrics, says):
    console.metrics = metrics
    app = console.app()
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(pilot, lambda: table(app).row_count >= 6 and "/" in text(app, "#gpu-quota"))
        totals = app.screen.query_one("#gpu-totals")
        line = text(app, "#gpu-totals")
        assert line.startswith(says) and "[metrics]" in line and "prometheus_url" in line
        assert totals.region.height == 1
        assert not app.screen.query_one("#gpu-hot").display  # no GPU numbers: no hottest list
        assert text(app, "#gpu-quota").startswith("Quota pressure")  # the quota comes from the cluster
        assert len(text(app, "#gpu-quota").splitlines()) == 1 + 5


async def test_a_stale_metrics_source_is_marked_and_its_last_numbers_kept(console):
    console.metrics = {}
    app = console.app()
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(pilot, lambda: panel_ready(app))
        before = text(app, "#gpu-totals")
        hottest = text(app, "#gpu-hot")
        numbers = before[before.index("GPU util"):before.index(" from dcgm")]
        backend = app.session.metrics.backend
        urls = list(backend.urls)
        backend.urls = [u.replace("/dcgm/metrics", "/dcgm/no-such-node/metrics") for u in urls]  # the exporter is gone
        await settle(pilot, lambda: "stale since" in text(app, "#gpu-totals"), tries=1500)
        line = text(app, "#gpu-totals")
        assert line.startswith("metrics stale since ") and "answered HTTP 404" in line
        assert numbers in line  # the last numbers stay, marked
        assert text(app, "#gpu-hot") == hottest
        backend.urls = urls  # back: live again, the mark goes
        await settle(pilot, lambda: "stale" not in text(app, "#gpu-totals") and "from dcgm" in text(app, "#gpu-totals"),
                     tries=1500)
