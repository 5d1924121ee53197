"""The workload screens against a simulated cluster, driven by keys: lists, drill-down, actions, refusals.

Every action is checked end to end: the simulator's objects changed, the audit trail has the before
and after rows, the Kubernetes Event was written. Refusals are checked by counting the write
requests that reached the simulator.
"""

from __future__ import annotations

from prophecis_tui.domain import DeploymentState, JobState, NotebookState
from prophecis_tui.simulator.notebooks import NOTEBOOKS
from prophecis_tui.simulator.world import SDEPS
from screens.audit import AuditScreen
from screens.deployments import DeploymentsScreen
from screens.events import EventsScreen
from screens.jobs import JobsScreen
from screens.modals import AskValue, ConfirmAction, TextView
from screens.notebook_form import NotebookForm
from screens.notebooks import NotebooksScreen
from screens.pods import PodsScreen
from screens.predict import PredictScreen
from widgets.resource_table import ResourceTable

from .test_console import settle


def table(app) -> ResourceTable:
    return app.screen.query_one(ResourceTable)


def writes(console) -> list[tuple[str, str]]:
    return console.thread.call(lambda: list(console.sim.api.writes))


def sim_events(console, reason: str) -> list[dict]:
    from prophecis_tui.simulator.engine import EVENTS
    return console.thread.call(lambda: [e for e in console.sim.engine.store.objects(EVENTS)
                                        if e.get("reason") == reason])


async def open_screen(pilot, app, command: str, kind, rows: int = 1) -> ResourceTable:
    app.run_command(command)
    await settle(pilot, lambda: isinstance(app.screen, kind) and app.screen.loaded and table(app).row_count >= rows)
    return table(app)


async def put_cursor_on(pilot, app, pred) -> object:
    t = table(app)
    await settle(pilot, lambda: any(pred(o) for o in t.rows))
    obj = next(o for o in t.rows if pred(o))
    t.select_uid(obj.uid)
    await pilot.pause()
    return obj


# ------------------------------------------------------------------------------------------ lists
async def test_notebooks_list_every_notebook_with_owner_status_and_url(console):
    app = console.app()
    async with app.run_test(size=(200, 50)) as pilot:
        t = await open_screen(pilot, app, "nb", NotebooksScreen)
        in_sim = console.thread.call(lambda: len(list(console.sim.engine.store.objects(NOTEBOOKS))))
        await settle(pilot, lambda: t.row_count == in_sim)
        texts = t.row_texts()
        failing = [o for o in t.rows if o.state == NotebookState.FAILING]
        assert failing, "the small scenario has failing notebooks"
        line = texts[t.rows.index(failing[0])]
        assert "Error" in line and failing[0].user in line
        running = await put_cursor_on(pilot, app, lambda o: o.state == NotebookState.RUNNING)
        assert texts[t.rows.index(running)].rstrip().endswith("…") or running.name in texts[t.rows.index(running)]
        assert f"/notebook/{running.namespace}/{running.name}/" in str(app.screen.query_one("#detail").render())


async def test_filter_sort_and_the_cursor_follows_its_object(console):
    app = console.app()
    async with app.run_test(size=(200, 50)) as pilot:
        t = await open_screen(pilot, app, "nb", NotebooksScreen, rows=10)
        chosen = await put_cursor_on(pilot, app, lambda o: o.state == NotebookState.STOPPED)
        await pilot.press("o")  # sort by the next column: the cursor stays on the same notebook
        await settle(pilot, lambda: t.sort_column == "namespace")
        await pilot.press("o", "o")
        await settle(pilot, lambda: t.sort_column == "owner" and [o.user for o in t.rows] == sorted(
            o.user for o in t.rows))
        assert t.current_uid == chosen.uid
        # the filter matches owner and state words
        await pilot.press("slash", *chosen.user, "space", *"stopped")
        await settle(pilot, lambda: t.row_count and all(o.user == chosen.user and o.state == NotebookState.STOPPED
                                                        for o in t.rows))
        await pilot.press("enter", "escape")
        await settle(pilot, lambda: app.screen.filter_text == "")


async def test_a_busy_list_waits_between_recomputes_but_the_user_is_answered_at_once(console, monkeypatch):
    """Under churn a big list is recomputed at most once per gap (its cost times GAP_FACTOR); a filter,
    a sort or a scope change does not wait for the gap."""
    import screens.refresh as rs
    from prophecis_tui.simulator.world import notebook_body
    monkeypatch.setattr(rs, "GAP_FACTOR", 1e9)  # every recompute "cost" enough to wait the longest gap
    monkeypatch.setattr(rs, "MAX_GAP", 3600.0)
    app = console.app()
    async with app.run_test(size=(200, 50)) as pilot:
        t = await open_screen(pilot, app, "nb", NotebooksScreen, rows=10)
        ns = console.sim.world.tenants[0].name
        console.thread.call(console.sim.engine.store.create, NOTEBOOKS,
                            notebook_body(ns, "throttled-nb", "wangwei", gpu=0, cpu=1, mem_gi=2))
        await settle(pilot, lambda: any(n.name == "throttled-nb" for n in app.session.state.notebooks()))
        await settle(pilot, lambda: app.screen._timer is not None)  # the change is scheduled, not computed
        assert not any(o.name == "throttled-nb" for o in t.rows)
        await pilot.press("slash", *"throttled", "enter")
        await settle(pilot, lambda: [o.name for o in t.rows] == ["throttled-nb"])


def stage_jobs(console) -> tuple[str, str]:
    """The jobs screen's two stories, made on purpose rather than hoped for from the seed: a PyTorchJob
    whose worker is OOMKilled, and a TFJob that asks more GPUs than its namespace's quota holds.
    Returns their names."""
    import random

    from prophecis_tui.simulator.controllers import DURATION_ANN, PLAN_ANN
    from prophecis_tui.simulator.world import training_body

    sim = console.sim
    store = sim.engine.store
    gpu = "requests.nvidia.com/gpu"

    def cpu_only(body: dict, plan: str) -> dict:
        body["metadata"].setdefault("annotations", {}).update({PLAN_ANN: plan, DURATION_ANN: "120"})
        for rs in next(v for k, v in body["spec"].items() if k.endswith("ReplicaSpecs")).values():
            rs["replicas"] = 1
            for c in rs["template"]["spec"]["containers"]:
                c["resources"] = {part: {"cpu": "100m", "memory": "256Mi"} for part in ("requests", "limits")}
        return body

    def stage() -> None:
        a, b = (t.name for t in sim.world.tenants[:2])
        rt, body = training_body("pytorch", a, "oom-probe", "lihua", "fraud-xgb", random.Random(1))
        store.create(rt, cpu_only(body, "OOMKilled"))
        more = str(int(sim.engine.quotas[b].hard[gpu]) + 1)  # more than the whole quota: never admitted
        rt, body = training_body("tensorflow", b, "quota-probe", "lihua", "fraud-xgb", random.Random(2))
        for rs in body["spec"]["tfReplicaSpecs"].values():
            for c in rs["template"]["spec"]["containers"]:
                c["resources"] = {part: {"cpu": "1", "memory": "2Gi", "nvidia.com/gpu": more}
                                  for part in ("requests", "limits")}
        store.create(rt, body)

    console.thread.call(stage)
    console.thread.advance(600)
    return "oom-probe", "quota-probe"


async def test_jobs_show_replicas_failures_and_why_pending(console):
    failing, held = stage_jobs(console)
    app = console.app()
    async with app.run_test(size=(200, 50)) as pilot:
        t = await open_screen(pilot, app, "jobs", JobsScreen, rows=10)
        await settle(pilot, lambda: app.screen.context is not None)
        await settle(pilot, lambda: any(o.name == held for o in t.rows))
        texts = {o.name: text for o, text in zip(t.rows, t.row_texts())}
        job = next(o for o in t.rows if o.name == failing)
        assert job.state == JobState.FAILED
        assert "PyTorch" in texts[failing] and "Master" in texts[failing] and "Worker" in texts[failing]
        assert "OOMKilled, exit 137" in texts[failing]  # the first failing replica and its cause
        # the pending explainer: a namespace whose quota is exhausted says so
        pending = next(o for o in t.rows if o.name == held)
        assert pending.state == JobState.PENDING and "Chief" in texts[held] and "PS" in texts[held]
        assert "quota mlss-default-rq: needs" in texts[held]
        # drill-down: the replica grid of a failed job, then a pod's description with events
        job = await put_cursor_on(pilot, app, lambda o: o.name == failing)
        await pilot.press("enter")
        await settle(pilot, lambda: isinstance(app.screen, PodsScreen) and table(app).row_count >= 1)
        pods = table(app)
        assert all(p.job_name == job.name for p in pods.rows)
        assert "REPLICA" in str(app.screen.query_one(ResourceTable)._header_text())
        await pilot.press("d")
        await settle(pilot, lambda: isinstance(app.screen, TextView))
        text = app.screen.text
        assert "Pod" in text and pods.current.name in text
        await pilot.press("escape", "escape")
        await settle(pilot, lambda: isinstance(app.screen, JobsScreen))


async def test_describe_and_yaml_mask_secrets(console):
    app = console.app()
    async with app.run_test(size=(200, 50)) as pilot:
        await open_screen(pilot, app, "nb", NotebooksScreen, rows=5)
        nb = await put_cursor_on(pilot, app, lambda o: o.state == NotebookState.RUNNING)
        await pilot.press("y")
        await settle(pilot, lambda: isinstance(app.screen, TextView))
        text = app.screen.text
        assert f"name: {nb.name}" in text and "GUARDIAN_TOKEN" in text and "****" in text
        assert "gt-" not in text  # the token's value never reaches the screen
        await pilot.press("escape", "d")
        await settle(pilot, lambda: isinstance(app.screen, TextView) and "Describe" in app.screen.title_text)
        assert nb.name in app.screen.text
        await pilot.press("escape", "e")
        await settle(pilot, lambda: isinstance(app.screen, EventsScreen))


# ------------------------------------------------------------------------------------------ actions
async def test_stop_a_notebook_asks_confirmation_and_leaves_a_trail(console):
    app = console.app()
    async with app.run_test(size=(200, 50)) as pilot:
        await open_screen(pilot, app, "nb", NotebooksScreen, rows=5)
        nb = await put_cursor_on(pilot, app, lambda o: o.state == NotebookState.RUNNING)
        before = len(writes(console))
        await pilot.press("s")
        await settle(pilot, lambda: isinstance(app.screen, ConfirmAction))
        assert "PATCH" in app.screen.call and f"notebooks/{nb.name}" in app.screen.call
        assert len(writes(console)) == before  # nothing was sent while asking
        await pilot.press("enter")
        annotations = lambda: console.thread.call(  # noqa: E731
            lambda: console.sim.engine.store.get(NOTEBOOKS, nb.namespace, nb.name)["metadata"].get("annotations") or {})
        await settle(pilot, lambda: "kubeflow-resource-stopped" in annotations())
        await settle(pilot, lambda: any(r.outcome == "ok" for r in console.audit.records()))
        rows = [r for r in console.audit.records() if r.action == "notebook.stop"]
        assert [(r.phase, r.outcome) for r in rows] == [("before", "started"), ("after", "ok")]
        assert rows[0].user == "mlss-admin" and rows[0].target == f"Notebook/{nb.namespace}/{nb.name}"
        await settle(pilot, lambda: any(e["involvedObject"]["name"] == nb.name
                                        for e in sim_events(console, "ProphecisTUIStopNotebook")))
        # the row turns Stopping/Stopped in place, and start is offered
        await settle(pilot, lambda: table(app).current.state in (NotebookState.STOPPING, NotebookState.STOPPED))
        await pilot.press("t")
        await settle(pilot, lambda: "kubeflow-resource-stopped" not in annotations())


async def test_kill_a_job_needs_a_reason(console):
    app = console.app()
    async with app.run_test(size=(200, 50)) as pilot:
        await open_screen(pilot, app, "jobs", JobsScreen, rows=5)
        job = await put_cursor_on(pilot, app, lambda o: o.state == JobState.RUNNING and o.kind != "Job")
        await pilot.press("ctrl+k")
        await settle(pilot, lambda: isinstance(app.screen, ConfirmAction))
        assert "DELETE" in app.screen.call and app.screen.needs_reason
        await pilot.press("enter")  # no reason: refused by the dialog
        await settle(pilot, lambda: "reason is required" in str(app.screen.query_one("#why").render()))
        await pilot.press(*"stuck after NCCL timeout", "enter")
        await settle(pilot, lambda: not isinstance(app.screen, ConfirmAction))
        await settle(pilot, lambda: all(o.uid != job.uid for o in table(app).rows))
        row = next(r for r in console.audit.records() if r.action.startswith("job.kill") and r.phase == "after")
        assert row.outcome == "ok" and row.reason == "stuck after NCCL timeout"
        await settle(pilot, lambda: any("stuck after NCCL timeout" in e.get("message", "")
                                        for e in sim_events(console, f"ProphecisTUIKill{job.kind}")))


async def test_scale_a_model_and_send_a_test_prediction(console):
    app = console.app()
    async with app.run_test(size=(200, 50)) as pilot:
        await open_screen(pilot, app, "deploy", DeploymentsScreen, rows=3)
        dep = await put_cursor_on(pilot, app, lambda o: o.state == DeploymentState.AVAILABLE
                                  and o.protocol == "seldon")
        await pilot.press("S")
        await settle(pilot, lambda: isinstance(app.screen, AskValue))
        await pilot.press("ctrl+a", "ctrl+k", "5", "enter")
        await settle(pilot, lambda: isinstance(app.screen, ConfirmAction))
        await pilot.press("enter")
        spec = lambda: console.thread.call(  # noqa: E731
            lambda: console.sim.engine.store.get(SDEPS, dep.namespace, dep.name)["spec"])
        await settle(pilot, lambda: (spec().get("replicas") or spec()["predictors"][0].get("replicas")) == 5)
        await pilot.press("p")
        await settle(pilot, lambda: isinstance(app.screen, PredictScreen))
        await pilot.press("ctrl+s")
        await settle(pilot, lambda: "HTTP 200" in str(app.screen.query_one("#status").render()))
        assert "ndarray" in app.screen.query_one("#response").text
        assert any(r.action == "deployment.predict" and r.outcome == "ok" for r in console.audit.records())


async def test_a_canary_shows_each_predictor_ready_and_scale_says_what_it_moves(console):
    app = console.app()
    async with app.run_test(size=(200, 50)) as pilot:
        t = await open_screen(pilot, app, "deploy", DeploymentsScreen, rows=3)
        dep = await put_cursor_on(pilot, app, lambda o: len(o.predictors) == 2 and o.state != DeploymentState.STOPPED)
        main, canary = dep.predictors
        sim = console.thread.call(lambda: console.sim.engine.store.get(SDEPS, dep.namespace, dep.name)["status"])
        ready = {k.split("-0-")[0]: v["availableReplicas"] for k, v in sim["deploymentStatus"].items()}
        assert (main.ready, canary.ready) == (ready[f"{dep.name}-default"], ready[f"{dep.name}-canary"])
        line = t.row_texts()[t.rows.index(dep)]
        assert f"default {main.ready}/{main.replicas} 90%" in line and f"canary {canary.ready}/1 10%" in line
        await pilot.press("S")
        await settle(pilot, lambda: isinstance(app.screen, AskValue))
        prompt = str(app.screen.query_one("#prompt").render())
        assert "sets default" in prompt and "canary keeps its own 1" in prompt
        await pilot.press("escape")


async def test_copy_notebook_url_uses_the_clipboard(console):
    app = console.app(notebook_url_base="https://mlss.example.com")
    async with app.run_test(size=(200, 50)) as pilot:
        await open_screen(pilot, app, "nb", NotebooksScreen, rows=5)
        nb = await put_cursor_on(pilot, app, lambda o: o.state == NotebookState.RUNNING)
        await pilot.press("u")
        await settle(pilot, lambda: app.clipboard == f"https://mlss.example.com/notebook/{nb.namespace}/{nb.name}/")


async def test_create_notebook_form_refuses_over_quota_then_creates(console):
    app = console.app()
    async with app.run_test(size=(200, 50)) as pilot:
        await open_screen(pilot, app, "nb", NotebooksScreen, rows=5)
        await pilot.press("c")
        await settle(pilot, lambda: isinstance(app.screen, NotebookForm) and app.screen.allowed)
        form = app.screen
        from textual.widgets import Select
        quotas = app.session.state.quotas()
        ns = next(n for n in form.allowed if n in quotas and quotas[n].gpu_hard)
        form.query_one("#namespace", Select).value = ns
        await pilot.pause()
        form.query_one("#name").value = "Bad_Name"
        form.query_one("#gpus").value = "999"
        await pilot.press("ctrl+s")
        await settle(pilot, lambda: "DNS" in str(form.query_one("#errors").render())
                     or "lowercase" in str(form.query_one("#errors").render()))
        assert "GPU" in str(form.query_one("#errors").render())
        form.query_one("#name").value = "ops-check-nb"
        form.query_one("#gpus").value = "0"
        await pilot.press("ctrl+s")
        await settle(pilot, lambda: console.thread.call(console.sim.engine.store.get, NOTEBOOKS, ns, "ops-check-nb"))
        assert any(r.action == "notebook.create" and r.outcome == "ok" for r in console.audit.records())


async def test_audit_screen_lists_the_actions(console):
    app = console.app()
    async with app.run_test(size=(200, 50)) as pilot:
        await open_screen(pilot, app, "nb", NotebooksScreen, rows=5)
        nb = await put_cursor_on(pilot, app, lambda o: o.state == NotebookState.RUNNING)
        await pilot.press("s", "enter")
        await settle(pilot, lambda: any(r.phase == "after" for r in console.audit.records()))
        app.run_command("audit")
        await settle(pilot, lambda: isinstance(app.screen, AuditScreen) and table(app).row_count == 1)
        text = table(app).row_texts()[0]
        assert "notebook.stop" in text and nb.name in text and "ok" in text


# ------------------------------------------------------------------------------------------ refusals
async def test_read_only_refuses_every_action_and_nothing_reaches_the_cluster(console):
    app = console.app(read_only_contexts=("sim-admin",))
    async with app.run_test(size=(200, 50)) as pilot:
        await open_screen(pilot, app, "nb", NotebooksScreen, rows=5)
        await put_cursor_on(pilot, app, lambda o: o.state == NotebookState.RUNNING)
        before = len(writes(console))
        await pilot.press("s", "ctrl+d", "c")
        await pilot.pause(0.2)
        assert not isinstance(app.screen, (ConfirmAction, NotebookForm))
        assert any("read-only" in str(n.message) for n in app._notifications)
        app.run_command("deploy")
        await settle(pilot, lambda: isinstance(app.screen, DeploymentsScreen) and table(app).row_count)
        await pilot.press("S", "x", "p")
        await pilot.pause(0.2)
        assert not isinstance(app.screen, (AskValue, PredictScreen))
        # the registry refuses on its own too, and records the refusal
        from prophecis_tui.actions import Target
        dep = table(app).current
        app.perform("deployment.scale", Target("SeldonDeployment", dep.namespace, dep.name), {"replicas": 0})
        await settle(pilot, lambda: any(r.outcome == "refused" for r in console.audit.records()))
        assert len(writes(console)) == before


async def test_viewer_sees_actions_greyed_with_the_reason(console):
    app = console.app("sim-viewer")
    async with app.run_test(size=(200, 50)) as pilot:
        await open_screen(pilot, app, "nb", NotebooksScreen, rows=5)
        await put_cursor_on(pilot, app, lambda o: o.state == NotebookState.RUNNING)
        screen = app.screen
        await settle(pilot, lambda: ("notebook.stop", screen.current().namespace) in screen.perms)
        assert screen.check_action("stop", ()) is None  # greyed, not hidden
        assert "may not patch notebooks" in str(screen.query_one("#detail").render())
        before = len(writes(console))
        await pilot.press("s")
        await settle(pilot, lambda: any("may not" in str(n.message) for n in app._notifications))
        assert not isinstance(app.screen, ConfirmAction)
        assert len(writes(console)) == before


async def test_a_key_not_for_this_object_says_so_and_sends_nothing(console):
    app = console.app()
    async with app.run_test(size=(200, 50)) as pilot:
        await open_screen(pilot, app, "nb", NotebooksScreen, rows=5)
        nb = await put_cursor_on(pilot, app, lambda o: o.state == NotebookState.RUNNING)
        before = len(writes(console))
        await pilot.press("t")  # start a running notebook
        await settle(pilot, lambda: any(f"not for {nb.name}" in str(n.message) for n in app._notifications))
        assert not isinstance(app.screen, ConfirmAction) and len(writes(console)) == before
