"""The action registry against a simulated cluster: two read-only locks, permissions, prompts, audit."""

from __future__ import annotations

import json
import os
import stat
from typing import Any, Iterator

import pytest

from backends.kubernetes import Kubernetes
from tests.conftest import CONTEXTS, START, wait_until
from prophecis_tui.actions import (RERUN_LABEL, Actions, NeedsConfirmation, NeedsReason, Outcome, Result, Target,
                                   builtin_actions, rerun_body, rerun_name, stopped_deployments)
from prophecis_tui.domain import DeploymentState, Forbidden, Invalid, ReadOnly
from prophecis_tui.forms import sample_payload, validate_notebook
from prophecis_tui.simulator.engine import EVENTS, PODS
from prophecis_tui.simulator.notebooks import NOTEBOOKS
from prophecis_tui.simulator.seldon import SDEPS
from prophecis_tui.simulator.testing import SimThread
from prophecis_tui.simulator.world import JOBS, PYTORCHJOBS
from prophecis_tui.store import AuditLog, SavedSpecs



MUTATING = ("POST", "PUT", "PATCH", "DELETE")


class Rig:
    def __init__(self, thread: SimThread, tmp) -> None:
        self.thread, self.sim = thread, thread.sim
        self.store = thread.sim.engine.store
        self.kubeconfig = str(thread.write_config(tmp / "kube"))
        self.audit = AuditLog(tmp / "data" / "audit.db")
        self.saved = SavedSpecs(tmp / "data" / "audit.db")  # the same file, as the console keeps them
        self.backends: list[Kubernetes] = []
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request the registries' backends sent

    def actions(self, role: str = "admin", *, read_only: bool = False, backend_read_only: bool = False) -> Actions:
        backend = Kubernetes.from_kubeconfig(self.kubeconfig, CONTEXTS[role], read_only=backend_read_only)
        self.backends.append(backend)
        acts = Actions(backend, self.audit, backend.identity(), read_only=read_only, saved=self.saved)
        for spec in builtin_actions():
            acts.register(spec)
        sent = backend._request

        def counted(method: str, path: str, *args: Any, **kw: Any):
            self.requests.append((method, path))
            return sent(method, path, *args, **kw)
        backend._request = counted  # counted from here on: the identity lookup above is not
        return acts

    def mutations(self) -> list[tuple[str, str]]:
        """Requests that change something (not the permission reviews)."""
        return [(m, p) for m, p in self.requests if m in MUTATING and "/selfsubject" not in p]

    def rv(self) -> int:
        return self.thread.call(lambda: self.sim.engine.store.rv)

    def get(self, rt, ns: str, name: str) -> dict | None:
        return self.thread.call(self.store.get, rt, ns, name)

    def first(self, rt, ns: str | None = None) -> dict:
        return self.thread.call(lambda: sorted(self.store.objects(rt, ns), key=lambda o: o["metadata"]["name"])[0])

    def change(self, rt, ns: str, name: str, fn) -> None:
        """Change a stored object in place (a deep copy goes to ``fn``), as a controller would."""
        self.thread.call(self.store.mutate, rt, ns, name, fn)

    def events(self, name: str, reason: str) -> list[dict]:
        return self.thread.call(lambda: [e for e in self.store.objects(EVENTS)
                                         if e["involvedObject"].get("name") == name and e["reason"] == reason])

    def fail(self, rt, ns: str, name: str) -> None:
        """Make a job Failed, as its controller would after the last retry."""
        if rt is JOBS:
            conds = [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                      "message": "Job has reached the specified backoff limit"}]
        else:
            conds = [{"type": "Created", "status": "True"}, {"type": "Running", "status": "False"},
                     {"type": "Failed", "status": "True", "reason": "PyTorchJobFailed",
                      "message": "PyTorchJob has failed because 1 Worker replica(s) failed."}]
        self.change(rt, ns, name, lambda o: o.__setitem__("status", {**(o.get("status") or {}), "conditions": conds,
                                                                      "active": 0}))

    def notebook(self, role_ns: str | None = None) -> Target:
        ns = role_ns or self.sim.world.tenants[0].name
        name = self.thread.call(lambda: sorted(o["metadata"]["name"] for o in self.sim.engine.store.objects(
            NOTEBOOKS, ns) if "kubeflow-resource-stopped" not in (o["metadata"].get("annotations") or {}))[0])
        return Target("Notebook", ns, name)

    def annotations(self, t: Target) -> dict:
        return self.thread.call(lambda: self.sim.engine.store.get(NOTEBOOKS, t.namespace, t.name)["metadata"]
                                .get("annotations") or {})


@pytest.fixture
def rig(tmp_path) -> Iterator[Rig]:
    with SimThread(scale="tiny", seed=11, speed=0.0, start_time=START) as t:
        r = Rig(t, tmp_path)
        try:
            yield r
        finally:
            for b in r.backends:
                b.close()
            r.audit.close()
            r.saved.close()


def test_stop_and_start_a_notebook_leave_an_audit_trail(rig):
    acts = rig.actions()
    nb = rig.notebook()
    with pytest.raises(NeedsConfirmation) as asked:
        acts.run("notebook.stop", nb, params={"at": "2026-11-29T10:00:00Z"})
    assert f"notebooks/{nb.name}" in asked.value.call and "kubeflow-resource-stopped" in asked.value.call
    result = acts.run("notebook.stop", nb, params={"at": "2026-11-29T10:00:00Z"}, confirmed=True)
    assert result.ok
    assert rig.annotations(nb)["kubeflow-resource-stopped"] == "2026-11-29T10:00:00Z"
    assert acts.run("notebook.start", nb).ok
    assert "kubeflow-resource-stopped" not in rig.annotations(nb)
    rows = rig.audit.records()
    assert [(r.action, r.phase, r.outcome) for r in rows] == [
        ("notebook.stop", "before", "started"), ("notebook.stop", "after", "ok"),
        ("notebook.start", "before", "started"), ("notebook.start", "after", "ok")]
    first = rows[0]
    assert (first.user, first.context, first.namespace, first.target) == (
        "mlss-admin", "sim-admin", nb.namespace, f"Notebook/{nb.namespace}/{nb.name}")
    assert rows[0].action_id == rows[1].action_id != rows[2].action_id


def test_read_only_refuses_before_any_request_and_records_the_refusal(rig):
    acts = rig.actions(read_only=True)
    nb = rig.notebook()
    before = rig.rv()
    with pytest.raises(ReadOnly):
        acts.run("notebook.stop", nb, params={"at": "x"}, confirmed=True)
    assert rig.rv() == before  # nothing reached the cluster
    assert acts.permission("notebook.stop", nb).reason == "read-only mode"
    (row,) = rig.audit.records()
    assert (row.phase, row.outcome, row.message) == ("refused", "refused", "read-only mode")


def test_the_backend_refuses_on_its_own_too(rig):
    acts = rig.actions(read_only=False, backend_read_only=True)  # the registry's lock is open: the second holds
    nb = rig.notebook()
    before = rig.rv()
    result = acts.run("notebook.start", nb)
    assert not result.ok and "read-only" in result.message
    assert rig.rv() == before
    assert [r.outcome for r in rig.audit.records()] == ["started", "error"]


def test_viewer_is_forbidden_with_the_reason(rig):
    acts = rig.actions("viewer")
    nb = rig.notebook()
    perm = acts.permission("notebook.stop", nb)
    assert not perm.allowed and "opsview" in perm.reason
    with pytest.raises(Forbidden):
        acts.run("notebook.stop", nb, params={"at": "x"}, confirmed=True)
    assert rig.audit.records()[-1].outcome == "refused"


def test_killing_a_job_needs_confirmation_and_a_reason(rig):
    acts = rig.actions()
    ns, name = rig.thread.call(lambda: next((o["metadata"]["namespace"], o["metadata"]["name"])
                                            for o in rig.sim.engine.store.objects(PYTORCHJOBS)))
    job = Target("PyTorchJob", ns, name)
    with pytest.raises(NeedsConfirmation) as asked:
        acts.run("job.kill.PyTorchJob", job)
    assert asked.value.call.startswith("DELETE /apis/kubeflow.org/v1/namespaces/")
    with pytest.raises(NeedsReason):
        acts.run("job.kill.PyTorchJob", job, confirmed=True)
    assert acts.run("job.kill.PyTorchJob", job, confirmed=True, reason="stuck on NCCL").ok
    assert rig.thread.call(rig.sim.engine.store.get, PYTORCHJOBS, ns, name) is None
    assert rig.audit.records()[-1].reason == "stuck on NCCL"


def test_audit_file_is_private_and_secrets_are_masked(rig):
    rig.audit.write(action_id="x", phase="before", user="u", context="c", cluster="k", namespace="n", action="a",
                    target="t", params={"linkis_token": "abc123", "nested": {"password": "pw"}, "replicas": 2},
                    reason="", outcome="started")
    assert stat.S_IMODE(os.stat(rig.audit.path).st_mode) == 0o600
    (row,) = rig.audit.records()
    assert row.params == {"linkis_token": "****", "nested": {"password": "****"}, "replicas": 2}
    raw = rig.audit.path.read_bytes() + (rig.audit.path.parent / "audit.db-wal").read_bytes()
    assert b"abc123" not in raw and b'"pw"' not in raw


def test_a_successful_action_leaves_an_event_on_the_object(rig):
    from prophecis_tui.simulator.engine import EVENTS
    acts = rig.actions()
    nb = rig.notebook()
    acts.run("notebook.stop", nb, params={"at": "2026-11-29T10:00:00Z"}, confirmed=True)
    events = rig.thread.call(lambda: [e for e in rig.sim.engine.store.objects(EVENTS, nb.namespace)
                                      if e["involvedObject"].get("name") == nb.name
                                      and e["reason"] == "ProphecisTUIStopNotebook"])
    assert len(events) == 1
    assert "mlss-admin" in events[0]["message"] and events[0]["involvedObject"]["kind"] == "Notebook"


def test_an_event_that_cannot_be_written_does_not_undo_the_action(rig):
    acts = rig.actions("group-admin")  # may patch notebooks, may not create events
    ns = rig.sim.identity("group-admin").namespaces[0]
    nb = rig.notebook(ns)
    result = acts.run("notebook.stop", nb, params={"at": "2026-11-29T10:00:00Z"}, confirmed=True)
    assert result.ok
    assert rig.annotations(nb)["kubeflow-resource-stopped"] == "2026-11-29T10:00:00Z"
    assert "event not written" in rig.audit.records()[-1].message


# ------------------------------------------------------------------------------------------ the registry
def test_perform_may_return_details_or_an_outcome(rig):
    acts = rig.actions()
    nb = rig.notebook()
    for i, (ret, ok) in enumerate([(("done", {"n": 1}), True), (Outcome("half", {"n": 2}, ok=False), False),
                                   (Result(True, "as result", details={"n": 3}), True)]):
        from prophecis_tui.actions import ActionSpec
        acts.register(ActionSpec(f"x.{i}", "Try it", "get", "kubeflow.org", "notebooks", lambda b, t, p, r=ret: r,
                                 lambda t, p: "nothing"))
        result = acts.run(f"x.{i}", nb)
        assert (result.ok, result.details["n"]) == (ok, i + 1)
    outcomes = [r.outcome for r in rig.audit.records() if r.phase == "after"]
    assert outcomes == ["ok", "error", "ok"]
    assert len(rig.events(nb.name, "ProphecisTUITryIt")) == 2  # no Event for the one that did not succeed


def test_wait_idle_lasts_until_a_running_action_has_written_its_audit_record(rig):
    """A console leaving in a hurry (its terminal gone) waits for this before it exits."""
    import threading

    from prophecis_tui.actions import ActionSpec
    acts = rig.actions()
    nb = rig.notebook()
    release = threading.Event()
    acts.register(ActionSpec("x.slow", "Slow", "get", "kubeflow.org", "notebooks",
                             lambda b, t, p: release.wait(10) and "done", lambda t, p: "nothing"))
    assert acts.wait_idle(0)
    worker = threading.Thread(target=acts.run, args=("x.slow", nb))
    worker.start()
    wait_until(lambda: any(r.action == "x.slow" for r in rig.audit.records()), what="the action started")
    assert not acts.wait_idle(0.05)
    release.set()
    assert acts.wait_idle(10)
    assert [r.phase for r in rig.audit.records() if r.action == "x.slow"] == ["before", "after"]
    worker.join(5)


def test_available_greys_out_with_the_reason(rig):
    acts = rig.actions()
    sdep = rig.first(SDEPS)
    t = Target("SeldonDeployment", sdep["metadata"]["namespace"], sdep["metadata"]["name"])
    assert acts.available("deployment.stop", t).allowed
    perm = acts.available("deployment.start", t)
    assert not perm.allowed and "no saved spec" in perm.reason
    assert not acts.available("nope", t).allowed
    assert acts.available("deployment.start", t).reason == perm.reason  # cheap: no request needed twice
    viewer = rig.actions("viewer")
    assert "opsview may not delete seldondeployments" in viewer.available("deployment.stop", t).reason
    assert rig.actions(read_only=True).available("notebook.create", t).reason == "read-only mode"
    ns = rig.sim.identity("group-admin").namespaces
    ga = rig.actions("group-admin")
    assert ga.namespaces_allowed("notebook.create", [*ns, "kube-system"]) == list(ns)


NEW_ACTIONS = [
    ("notebook.delete", "Notebook", {}),
    ("notebook.create", "Notebook", {"image": "wedatasphere/prophecis:jupyterlab-1.4.0-py38-cpu", "cpu": "2",
                                     "memory": "4Gi", "gpus": 0, "workspace": "/data/bdap-ss/mlss-data/x"}),
    ("job.rerun.PyTorchJob", "PyTorchJob", {}),
    ("job.rerun.Job", "Job", {}),
    ("deployment.stop", "SeldonDeployment", {}),
    ("deployment.start", "SeldonDeployment", {}),
    ("deployment.delete", "SeldonDeployment", {}),
    ("deployment.predict", "SeldonDeployment", {"predictor": "default", "payload": {"data": {"ndarray": [[1]]}}}),
]


@pytest.mark.parametrize("action, kind, params", NEW_ACTIONS)
def test_read_only_refuses_every_new_action_before_any_request(rig, action, kind, params):
    acts = rig.actions(read_only=True)
    t = Target(kind, rig.sim.world.tenants[0].name, "anything")
    with pytest.raises(ReadOnly):
        acts.run(action, t, params=params, confirmed=True, reason="because")
    assert rig.requests == []  # not even a permission review
    (row,) = rig.audit.records()
    assert (row.action, row.phase, row.outcome) == (action, "refused", "refused")


@pytest.mark.parametrize("action, kind, params", NEW_ACTIONS)
def test_the_viewer_is_refused_every_new_action(rig, action, kind, params):
    acts = rig.actions("viewer")
    t = Target(kind, rig.sim.world.tenants[0].name, "anything")
    before = rig.rv()
    with pytest.raises(Forbidden) as refused:
        acts.run(action, t, params=params, confirmed=True, reason="because")
    assert "opsview may not" in refused.value.message
    assert rig.mutations() == [] and rig.rv() == before
    assert [(r.phase, r.outcome) for r in rig.audit.records()] == [("refused", "refused")]


# ------------------------------------------------------------------------------------------ notebooks
def test_deleting_a_notebook_asks_confirmation_and_a_reason(rig):
    acts = rig.actions()
    nb = rig.notebook()
    with pytest.raises(NeedsConfirmation) as asked:
        acts.run("notebook.delete", nb)
    assert asked.value.call == (f"DELETE /apis/kubeflow.org/v1/namespaces/{nb.namespace}/notebooks/{nb.name}"
                                "?propagationPolicy=Background")
    assert asked.value.needs_reason
    with pytest.raises(NeedsReason):
        acts.run("notebook.delete", nb, confirmed=True)
    assert rig.mutations() == []
    result = acts.run("notebook.delete", nb, confirmed=True, reason="user left the team")
    assert result.ok and "deleted" in result.message
    assert rig.get(NOTEBOOKS, nb.namespace, nb.name) is None
    assert ("DELETE", f"/apis/kubeflow.org/v1/namespaces/{nb.namespace}/notebooks/{nb.name}") in rig.requests
    before, after = rig.audit.records()
    assert (before.phase, after.phase, after.outcome, after.reason) == ("before", "after", "ok", "user left the team")
    (event,) = rig.events(nb.name, "ProphecisTUIDeleteNotebook")
    assert "user left the team" in event["message"] and event["involvedObject"]["apiVersion"] == "kubeflow.org/v1"


def _nb_form(**kw) -> dict:
    return {"image": "wedatasphere/prophecis:jupyterlab-1.4.0-py38-gpu", "cpu": "4", "memory": "16Gi", "gpus": 1,
            "workspace": "/data/bdap-ss/mlss-data/mlss-admin", **kw}


def test_creating_a_notebook_in_v1(rig):
    acts = rig.actions()
    ns = rig.sim.world.tenants[0].name
    t = Target("Notebook", ns, "credit-eda")
    assert "POST /apis/kubeflow.org/v1/namespaces/" in acts.describe("notebook.create", t, _nb_form())
    result = acts.run("notebook.create", t, params=_nb_form())  # not dangerous: no confirmation
    assert result.ok, result.message
    assert result.details["url"] == f"/notebook/{ns}/credit-eda"
    obj = rig.get(NOTEBOOKS, ns, "credit-eda")
    c = obj["spec"]["template"]["spec"]["containers"][0]
    assert c["name"] == "notebook-container" and c["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert obj["metadata"]["labels"]["prophecis-UserId"] == "mlss-admin"  # the identity's user
    assert {"name": "NB_PREFIX", "value": f"/notebook/{ns}/credit-eda"} in c["env"]
    rig.thread.advance(60)  # the notebook controller starts it
    assert rig.get(PODS, ns, "credit-eda-0") is not None
    before, after = rig.audit.records()
    assert before.params == {**_nb_form()} and after.outcome == "ok"
    (event,) = rig.events("credit-eda", "ProphecisTUICreateNotebook")
    assert event["involvedObject"]["kind"] == "Notebook"
    again = acts.run("notebook.create", t, params=_nb_form())
    assert not again.ok and "already exists" in again.message


def test_creating_a_notebook_where_the_cluster_serves_v1alpha1(rig):
    acts = rig.actions()
    backend = rig.backends[-1]
    backend._discover()["notebooks"] = "v1alpha1"  # a Prophecis cluster with only the old Notebook CRD
    ns = rig.sim.world.tenants[0].name
    t = Target("Notebook", ns, "legacy-nb")
    assert acts.describe("notebook.create", t, _nb_form()).startswith(
        f"POST /apis/kubeflow.org/v1alpha1/namespaces/{ns}/notebooks (Notebook legacy-nb")
    result = acts.run("notebook.create", t, params=_nb_form(gpus=0))
    assert result.ok and result.details["api_version"] == "kubeflow.org/v1alpha1"
    assert ("POST", f"/apis/kubeflow.org/v1alpha1/namespaces/{ns}/notebooks") in rig.requests
    assert rig.get(NOTEBOOKS, ns, "legacy-nb") is not None
    (event,) = rig.events("legacy-nb", "ProphecisTUICreateNotebook")
    assert event["involvedObject"]["apiVersion"] == "kubeflow.org/v1alpha1"
    with pytest.raises(NeedsConfirmation) as asked:
        acts.run("notebook.stop", t, params={"at": "2026-11-29T10:00:00Z"})
    assert "/apis/kubeflow.org/v1alpha1/" in asked.value.call


def test_a_bad_notebook_form_is_refused_before_it_is_sent(rig):
    acts = rig.actions()
    ns = rig.sim.world.tenants[0].name
    result = acts.run("notebook.create", Target("Notebook", ns, "Bad_Name"), params=_nb_form(memory="16"))
    assert not result.ok
    assert "name must be lowercase" in result.message and "give a unit" in result.message
    assert rig.mutations() == []
    assert [r.outcome for r in rig.audit.records()] == ["started", "error"]


def test_over_quota_is_refused_by_the_form_with_the_cluster_quota(rig):
    acts = rig.actions()
    ns = rig.sim.world.tenants[0].name
    (quota,) = rig.backends[-1].list("resourcequotas", ns).items
    free = int(quota.gpu_hard - quota.gpu_used)
    allowed = acts.namespaces_allowed("notebook.create", [t.name for t in rig.sim.world.tenants])
    form = {"namespace": ns, "name": "big-nb", **_nb_form(gpus=free + 1)}
    problems = validate_notebook(form, namespaces_allowed=allowed, images=[form["image"]], quota=quota,
                                 existing_names=set())
    assert problems == [f"needs {free + 1} GPU, {ns} quota has {free} free "
                        f"({quota.gpu_used:g}/{quota.gpu_hard:g} used)"]
    form["gpus"] = free
    assert validate_notebook(form, namespaces_allowed=allowed, images=[form["image"]], quota=quota,
                             existing_names=set()) == []


# ------------------------------------------------------------------------------------------ training jobs
def _job(rig, rt) -> Target:
    o = rig.first(rt)
    return Target(o["kind"], o["metadata"]["namespace"], o["metadata"]["name"])


def test_rerun_refuses_a_job_that_did_not_fail(rig):
    acts = rig.actions()
    job = _job(rig, PYTORCHJOBS)
    result = acts.run("job.rerun.PyTorchJob", job, confirmed=True)
    assert not result.ok and "is running, not failed" in result.message
    assert rig.mutations() == []


def test_rerun_a_failed_job_with_a_free_name(rig):
    acts = rig.actions()
    job = _job(rig, PYTORCHJOBS)
    rig.fail(PYTORCHJOBS, job.namespace, job.name)
    old = rig.get(PYTORCHJOBS, job.namespace, job.name)
    with pytest.raises(NeedsConfirmation) as asked:
        acts.run("job.rerun.PyTorchJob", job)
    assert f"a copy named {job.name}-rerun-1" in asked.value.call and not asked.value.needs_reason
    first = acts.run("job.rerun.PyTorchJob", job, confirmed=True)
    assert first.ok and first.details["name"] == f"{job.name}-rerun-1"
    copy = rig.get(PYTORCHJOBS, job.namespace, f"{job.name}-rerun-1")
    same = json.loads(json.dumps(old["spec"]).replace(f'"training_id": "{job.name}"',
                                                      f'"training_id": "{job.name}-rerun-1"'))
    assert copy["spec"] == same and copy["spec"] != old["spec"]  # the pods are tagged with their own training
    assert copy["metadata"]["labels"][RERUN_LABEL] == job.name
    assert copy["metadata"]["uid"] != old["metadata"]["uid"]
    assert [c["type"] for c in copy["status"]["conditions"]] == ["Created"]  # a new job, not the old status
    (event,) = rig.events(f"{job.name}-rerun-1", "ProphecisTUIRerunPyTorchJob")  # on the copy
    assert f"re-run of {job.name}" in event["message"]
    # again, without telling it the names in use: -rerun-1 answers 409 Conflict, -rerun-2 is free
    second = acts.run("job.rerun.PyTorchJob", job, confirmed=True)
    assert second.ok and second.details["tried"] == [f"{job.name}-rerun-1", f"{job.name}-rerun-2"]
    # told the names in use, it asks for the first free one at once
    third = acts.run("job.rerun.PyTorchJob", job, confirmed=True,
                     params={"existing_names": [f"{job.name}-rerun-1", f"{job.name}-rerun-2"]})
    assert third.details["tried"] == [f"{job.name}-rerun-3"]
    assert "existing_names" not in rig.audit.records()[-1].params
    # a chosen name that is taken is an error, not bumped
    taken = acts.run("job.rerun.PyTorchJob", job, confirmed=True, params={"new_name": f"{job.name}-rerun-3"})
    assert not taken.ok and "exists already" in taken.message
    assert acts.run("job.rerun.PyTorchJob", job, confirmed=True, params={"new_name": f"{job.name}-rerun-5"}).ok
    fourth = acts.run("job.rerun.PyTorchJob", job, confirmed=True)  # -1..-3 and -5 taken: -4 on the 4th try
    assert fourth.details["tried"][-1] == f"{job.name}-rerun-4" and len(fourth.details["tried"]) == 4
    gave_up = acts.run("job.rerun.PyTorchJob", job, confirmed=True)  # -1..-5 taken: five tries, then no more
    assert not gave_up.ok and "no free name" in gave_up.message and f"{job.name}-rerun-5" in gave_up.message


def test_rerun_a_running_job_when_forced(rig):
    acts = rig.actions()
    job = _job(rig, PYTORCHJOBS)
    result = acts.run("job.rerun.PyTorchJob", job, confirmed=True, params={"force": True, "new_name": "again"})
    assert result.ok and rig.get(PYTORCHJOBS, job.namespace, "again") is not None


def test_rerun_a_batch_job_drops_what_the_api_server_set(rig):
    acts = rig.actions()
    job = _job(rig, JOBS)
    uid = rig.get(JOBS, job.namespace, job.name)["metadata"]["uid"]
    generated = {"controller-uid": uid, "batch.kubernetes.io/controller-uid": uid, "job-name": job.name,
                 "batch.kubernetes.io/job-name": job.name}

    def as_the_api_server_returns_it(o: dict) -> None:  # the simulator does not add these; a real server does
        o["metadata"]["labels"].update(generated)
        o["metadata"].setdefault("annotations", {})[
            "kubectl.kubernetes.io/last-applied-configuration"] = '{"kind":"Job"}'
        o["spec"]["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
        o["spec"]["template"]["metadata"]["labels"].update(generated)
    rig.change(JOBS, job.namespace, job.name, as_the_api_server_returns_it)
    rig.fail(JOBS, job.namespace, job.name)
    result = acts.run("job.rerun.Job", job, confirmed=True)
    assert result.ok, result.message
    copy = rig.get(JOBS, job.namespace, f"{job.name}-rerun-1")
    labels, tmpl_labels = copy["metadata"]["labels"], copy["spec"]["template"]["metadata"]["labels"]
    assert "selector" not in copy["spec"]
    assert not set(generated) & (set(labels) | set(tmpl_labels))
    assert labels["jobType"] == "single" and labels[RERUN_LABEL] == job.name
    assert labels["training_id"] == tmpl_labels["training_id"] == f"{job.name}-rerun-1"
    assert "kubectl.kubernetes.io/last-applied-configuration" not in (copy["metadata"].get("annotations") or {})


def test_rerun_names():
    assert rerun_name("bert") == ("bert-rerun-1", 1)
    assert rerun_name("bert", {"bert-rerun-1", "bert-rerun-2"}) == ("bert-rerun-3", 3)
    assert rerun_name("bert-rerun-1") == ("bert-rerun-2", 2)  # a re-run of a re-run counts on
    long = "x" * 40 + "-" + "y" * 22  # 63
    name, _ = rerun_name(long)
    assert len(name) <= 63 and name.endswith("-rerun-1") and not name.endswith("--rerun-1")
    assert rerun_name("a" * 63, start=12)[0] == "a" * 54 + "-rerun-12"


def test_rerun_body_keeps_the_spec_and_drops_the_rest():
    old = {"apiVersion": "kubeflow.org/v1", "kind": "TFJob",
           "metadata": {"name": "mnist", "namespace": "ns-a", "uid": "u", "resourceVersion": "7", "generation": 3,
                        "creationTimestamp": "2026-11-29T09:00:00Z", "labels": {"MLSS-USER": "lihua"},
                        "ownerReferences": [{"kind": "X"}], "finalizers": ["f"]},
           "spec": {"tfReplicaSpecs": {"Worker": {"replicas": 2, "template": {"spec": {"containers": []}}}}},
           "status": {"conditions": [{"type": "Failed", "status": "True"}]}}
    body = rerun_body("TFJob", old, "mnist-rerun-1")
    assert body == {"apiVersion": "kubeflow.org/v1", "kind": "TFJob",
                    "metadata": {"name": "mnist-rerun-1", "namespace": "ns-a",
                                 "labels": {"MLSS-USER": "lihua", RERUN_LABEL: "mnist"}},
                    "spec": old["spec"]}
    assert body["spec"] is not old["spec"]


# ------------------------------------------------------------------------------------------ deployments
SECRET = "s3cr3t-pw-2f9a"


def _sdep(rig) -> Target:
    o = rig.first(SDEPS)
    return Target("SeldonDeployment", o["metadata"]["namespace"], o["metadata"]["name"])


def _with_secret_env(rig, t: Target) -> None:
    def add(o: dict) -> None:
        c = o["spec"]["predictors"][0]["componentSpecs"][0]["spec"]["containers"][0]
        c["env"] = [{"name": "MODEL_DB_PASSWORD", "value": SECRET}, {"name": "LOG_LEVEL", "value": "INFO"},
                    {"name": "S3_KEY", "valueFrom": {"secretKeyRef": {"name": "s3", "key": "key"}}}]
        o["metadata"].setdefault("annotations", {})["kubectl.kubernetes.io/last-applied-configuration"] = (
            json.dumps({"spec": {"env": [{"name": "MODEL_DB_PASSWORD", "value": SECRET}]}}))
    rig.change(SDEPS, t.namespace, t.name, add)


def test_stop_and_start_a_deployment_round_trip(rig):
    acts = rig.actions()
    t = _sdep(rig)
    _with_secret_env(rig, t)
    original = rig.get(SDEPS, t.namespace, t.name)
    with pytest.raises(NeedsConfirmation) as asked:
        acts.run("deployment.stop", t)
    assert asked.value.call.startswith(f"GET /apis/machinelearning.seldon.io/v1/namespaces/{t.namespace}/"
                                       f"seldondeployments/{t.name} (the spec is saved")
    assert "then DELETE" in asked.value.call and asked.value.needs_reason
    with pytest.raises(NeedsReason):
        acts.run("deployment.stop", t, confirmed=True)
    stopped = acts.run("deployment.stop", t, confirmed=True, reason="weekend: free the GPUs")
    assert stopped.ok and "MODEL_DB_PASSWORD" in stopped.message
    assert rig.get(SDEPS, t.namespace, t.name) is None
    rig.thread.advance(30)
    assert not rig.thread.call(lambda: [p for p in rig.store.objects(PODS, t.namespace)
                                        if p["metadata"]["labels"].get("seldon-deployment-id") == t.name])
    # saved, secrets masked: never in the file
    rec = rig.saved.latest_record("sim-admin", t.namespace, "SeldonDeployment", t.name)
    assert rec.saved_by == "mlss-admin" and rec.masked == (
        "spec.predictors[0].componentSpecs[0].spec.containers[0].env[MODEL_DB_PASSWORD]",)
    raw = b"".join(f.read_bytes() for f in rig.saved.path.parent.iterdir() if f.name.startswith("audit.db"))
    assert SECRET.encode() not in raw
    assert stat.S_IMODE(os.stat(rig.saved.path).st_mode) == 0o600
    # listed as stopped
    (row,) = stopped_deployments(acts, None, t.namespace)
    assert row.state == DeploymentState("stopped") and row.name == t.name and "mlss-admin" in row.reason
    assert acts.available("deployment.start", t).allowed
    # start restores it, without the secret it could not keep, and says so
    started = acts.run("deployment.start", t)
    assert started.ok and "WARNING" in started.message and "MODEL_DB_PASSWORD" in started.message
    assert started.details["warnings"]
    restored = rig.get(SDEPS, t.namespace, t.name)
    assert restored["metadata"]["uid"] != original["metadata"]["uid"]
    assert restored["metadata"]["labels"] == original["metadata"]["labels"]
    want = json.loads(json.dumps(original["spec"]["predictors"]))
    want[0]["componentSpecs"][0]["spec"]["containers"][0]["env"].pop(0)  # the masked one is gone, not '****'
    assert restored["spec"]["predictors"] == want
    assert "****" not in json.dumps(restored)
    rig.thread.advance(120)
    assert rig.get(SDEPS, t.namespace, t.name)["status"]["state"] == "Available"
    assert stopped_deployments(acts, None, t.namespace) == []  # no longer stopped
    assert not acts.available("deployment.start", t).allowed
    # audit and events
    rows = [(r.action, r.phase, r.outcome) for r in rig.audit.records()]
    assert rows == [("deployment.stop", "before", "started"), ("deployment.stop", "after", "ok"),
                    ("deployment.start", "before", "started"), ("deployment.start", "after", "ok")]
    assert len(rig.events(t.name, "ProphecisTUIStopDeployment")) == 1
    assert len(rig.events(t.name, "ProphecisTUIStartDeployment")) == 1


def test_starting_a_deployment_that_exists_is_a_clear_error(rig):
    acts = rig.actions()
    t = _sdep(rig)
    body = rig.get(SDEPS, t.namespace, t.name)
    rig.saved.save("sim-admin", t.namespace, "SeldonDeployment", t.name, body, "mlss-admin")
    result = acts.run("deployment.start", t)
    assert not result.ok and result.message == (f"SeldonDeployment {t.namespace}/{t.name} exists already (running, "
                                                "or started again meanwhile): nothing restored")
    assert rig.audit.records()[-1].outcome == "error"


def test_start_without_a_saved_spec(rig):
    acts = rig.actions()
    t = Target("SeldonDeployment", rig.sim.world.tenants[0].name, "never-stopped")
    result = acts.run("deployment.start", t)
    assert not result.ok and "no saved spec" in result.message and rig.mutations() == []


def test_deleting_a_deployment_keeps_no_spec(rig):
    acts = rig.actions()
    t = _sdep(rig)
    with pytest.raises(NeedsConfirmation) as asked:
        acts.run("deployment.delete", t)
    assert asked.value.call.startswith("DELETE /apis/machinelearning.seldon.io/v1/namespaces/")
    with pytest.raises(NeedsReason):
        acts.run("deployment.delete", t, confirmed=True)
    assert acts.run("deployment.delete", t, confirmed=True, reason="model retired").ok
    assert rig.get(SDEPS, t.namespace, t.name) is None
    assert rig.saved.latest("sim-admin", t.namespace, "SeldonDeployment", t.name) is None
    assert not acts.available("deployment.start", t).allowed
    assert rig.events(t.name, "ProphecisTUIDeleteDeployment")


def test_a_test_prediction(rig):
    acts = rig.actions()
    o = rig.thread.call(lambda: next(x for x in rig.store.objects(SDEPS)
                                     if x["spec"].get("protocol", "seldon") == "seldon"
                                     and (x.get("status") or {}).get("state") == "Available"))
    t = Target("SeldonDeployment", o["metadata"]["namespace"], o["metadata"]["name"])
    graph = o["spec"]["predictors"][0]["graph"]
    payload = sample_payload(graph.get("implementation", ""), "seldon")
    params = {"predictor": "default", "payload": payload}
    assert acts.describe("deployment.predict", t, params).startswith(
        f"POST /api/v1/namespaces/{t.namespace}/services/{t.name}-default:8000/proxy/")
    result = acts.run("deployment.predict", t, params=params)  # not dangerous: no confirmation
    assert result.details["status"] == 200, result.details
    assert result.ok and result.details["latency_ms"] >= 0
    answer = json.loads(result.details["response"])
    assert answer["data"]["ndarray"]
    assert result.details["path"] == "api/v1.0/predictions"
    before, after = rig.audit.records()
    assert before.params == {"predictor": "default", "service": "", "path": "", "port": 8000,
                             "payload_bytes": len(json.dumps(payload, separators=(",", ":")))}
    assert "payload" not in after.params and after.outcome == "ok"
    assert rig.events(t.name, "ProphecisTUITestPrediction")


def test_a_prediction_that_fails_is_reported_not_raised(rig):
    acts = rig.actions()
    t = _sdep(rig)
    result = acts.run("deployment.predict", t, params={"predictor": "nosuch", "path": "api/v1.0/predictions",
                                                        "payload": {"data": {"ndarray": [[1.0]]}}})
    assert not result.ok and result.details["status"] >= 400
    assert result.details["service"] == f"{t.name}-nosuch"
    assert rig.audit.records()[-1].outcome == "error"
    assert not rig.events(t.name, "ProphecisTUITestPrediction")  # only a successful action leaves an Event
    bad = acts.run("deployment.predict", t, params={"predictor": "default", "path": "x", "payload": "{not json"})
    assert not bad.ok and "not JSON" in bad.message


# ------------------------------------------------------------------------------------------ quota.edit
def _quota_target(rig) -> Target:
    return Target("ResourceQuota", rig.sim.world.tenants[0].name, "mlss-default-rq")


def test_edit_quota_patches_base_and_max_with_confirmation_reason_audit_and_event(rig):
    from prophecis_tui.simulator.engine import QUOTAS
    acts = rig.actions()
    t = _quota_target(rig)
    params = {"base": 2, "max": 5, "max_annotation": "prophecis.webank.com/gpu-max", "node_gpus": 8,
              "old_base": 4.0, "old_max": None}
    with pytest.raises(NeedsConfirmation) as asked:
        acts.run("quota.edit", t, params=params)
    assert asked.value.needs_reason
    assert asked.value.call == (f"PATCH /api/v1/namespaces/{t.namespace}/resourcequotas/mlss-default-rq (merge) "
                                '{"metadata":{"annotations":{"prophecis.webank.com/gpu-max":"5"}},'
                                '"spec":{"hard":{"requests.nvidia.com/gpu":"2"}}}')
    with pytest.raises(NeedsReason):
        acts.run("quota.edit", t, params=params, confirmed=True)
    assert not rig.mutations()
    result = acts.run("quota.edit", t, params=params, confirmed=True, reason="tenant asked for burst room")
    assert result.ok and "base 2, max 5" in result.message and "was base 4, max none" in result.message
    q = rig.get(QUOTAS, t.namespace, t.name)
    assert q["spec"]["hard"]["requests.nvidia.com/gpu"] == "2"
    assert q["metadata"]["annotations"]["prophecis.webank.com/gpu-max"] == "5"
    rows = [r for r in rig.audit.records() if r.action == "quota.edit"]
    assert [(r.phase, r.outcome) for r in rows] == [("before", "started"), ("after", "ok")]
    assert rows[0].params["base"] == 2 and rows[0].reason == "tenant asked for burst room"
    (event,) = rig.events("mlss-default-rq", "ProphecisTUIEditQuota")
    assert event["involvedObject"]["kind"] == "ResourceQuota" and "tenant asked for burst room" in event["message"]
    # an empty max removes the annotation: no max
    acts.run("quota.edit", t, params={**params, "max": None}, confirmed=True, reason="no burst")
    assert "prophecis.webank.com/gpu-max" not in (rig.get(QUOTAS, t.namespace, t.name)["metadata"]
                                                  .get("annotations") or {})


@pytest.mark.parametrize("change, needle", [
    ({"base": 6, "max": 4}, "cannot be above the maximum"),
    ({"base": 9, "max": 12}, "above the 8 GPUs"),
    ({"base": -1}, "0 or more"),
    ({"base": "1.5"}, "whole number"),
    ({"node_gpus": None}, "capacity of the namespace's nodes is not known"),
])
def test_edit_quota_refuses_bad_params_before_anything_is_sent(rig, change, needle):
    acts = rig.actions()
    params = {"base": 2, "max": 5, "max_annotation": "prophecis.webank.com/gpu-max", "node_gpus": 8, **change}
    with pytest.raises(Invalid) as refused:
        acts.run("quota.edit", _quota_target(rig), params=params, confirmed=True, reason="r")
    assert needle in refused.value.message
    assert not rig.mutations()
    (row,) = rig.audit.records()
    assert (row.action, row.phase, row.outcome) == ("quota.edit", "refused", "refused") and needle in row.message


def test_a_viewer_may_not_edit_quota(rig):
    acts = rig.actions("viewer")
    perm = acts.permission("quota.edit", _quota_target(rig))
    assert not perm.allowed and "may not patch resourcequotas" in perm.reason
