"""The action registry against a simulated cluster: two read-only locks, permissions, prompts, audit."""

from __future__ import annotations

import os
import stat
from typing import Iterator

import pytest

from backends.kubernetes import Kubernetes
from tests.conftest import CONTEXTS, START
from prophecis_tui.actions import Actions, NeedsConfirmation, NeedsReason, Target, builtin_actions
from prophecis_tui.domain import Forbidden, ReadOnly
from prophecis_tui.simulator.notebooks import NOTEBOOKS
from prophecis_tui.simulator.testing import SimThread
from prophecis_tui.simulator.world import PYTORCHJOBS
from prophecis_tui.store import AuditLog



class Rig:
    def __init__(self, thread: SimThread, tmp) -> None:
        self.thread, self.sim = thread, thread.sim
        self.kubeconfig = str(thread.write_config(tmp / "kube"))
        self.audit = AuditLog(tmp / "data" / "audit.db")
        self.backends: list[Kubernetes] = []

    def actions(self, role: str = "admin", *, read_only: bool = False, backend_read_only: bool = False) -> Actions:
        backend = Kubernetes.from_kubeconfig(self.kubeconfig, CONTEXTS[role], read_only=backend_read_only)
        self.backends.append(backend)
        acts = Actions(backend, self.audit, backend.identity(), read_only=read_only)
        for spec in builtin_actions():
            acts.register(spec)
        return acts

    def rv(self) -> int:
        return self.thread.call(lambda: self.sim.engine.store.rv)

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
