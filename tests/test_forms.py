"""The notebook form (names, quantities, quota), the Notebook body, and the test-prediction samples."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from backends.k8s_parse import parse_notebook
from prophecis_tui.config import DEFAULT_NOTEBOOK_IMAGES
from prophecis_tui.domain import Quota
from prophecis_tui.forms import (NOTEBOOK_NAME_MAX, check_name, free_gpus, notebook_body, predict_path,
                                 sample_payload, validate_notebook)

ROOT = Path(__file__).resolve().parent.parent
NS = "ns-risk-scorecard"
IMAGES = list(DEFAULT_NOTEBOOK_IMAGES)


def form(**kw) -> dict:
    f = {"namespace": NS, "name": "credit-eda", "image": IMAGES[1], "cpu": "4", "memory": "16Gi", "gpus": "1",
         "workspace": "/data/bdap-ss/mlss-data/lihua"}
    f.update(kw)
    return f


def quota(gpu_hard=16.0, gpu_used=15.0, cpu_hard=94.0, cpu_used=10.0, mem_hard=760 * 2.0 ** 30,
          mem_used=100 * 2.0 ** 30) -> Quota:
    return Quota(uid="q", namespace=NS, gpu_hard=gpu_hard, gpu_used=gpu_used, cpu_hard=cpu_hard, cpu_used=cpu_used,
                 memory_hard=mem_hard, memory_used=mem_used)


def check(f: dict, *, allowed=(NS,), images=IMAGES, q: Quota | None = None, existing=()) -> list[str]:
    return validate_notebook(f, namespaces_allowed=list(allowed), images=list(images), quota=q,
                             existing_names=set(existing))


# ------------------------------------------------------------------------------------------ the form
def test_a_good_form_has_no_problems():
    assert check(form(), q=quota()) == []
    assert check(form(gpus=0, cpu="500m", memory="2048Mi"), q=quota(gpu_used=16)) == []  # no GPU asked, none needed
    assert check(form(gpus=3, cpu=8, memory="32Gi"), q=None) == []  # no quota known: nothing to refuse


def test_over_quota_is_refused_with_the_arithmetic():
    assert check(form(gpus="2"), q=quota()) == ["needs 2 GPU, ns-risk-scorecard quota has 1 free (15/16 used)"]
    assert check(form(gpus=1), q=quota(gpu_used=17)) == [
        "needs 1 GPU, ns-risk-scorecard quota has 0 free (17/16 used)"]  # over already (quota lowered)
    assert check(form(cpu="8"), q=quota(cpu_used=90)) == [
        "needs 8 CPU, ns-risk-scorecard quota has 4 free (90/94 used)"]
    assert check(form(memory="16Gi"), q=quota(mem_used=750 * 2.0 ** 30)) == [
        "needs 16Gi memory, ns-risk-scorecard quota has 10Gi free (750Gi/760Gi used)"]
    assert check(form(gpus=4), q=quota(gpu_hard=None)) == []  # the quota sets no GPU limit


def test_free_gpus():
    assert free_gpus(None) is None
    assert free_gpus(quota(gpu_hard=None)) is None
    assert free_gpus(quota()) == 1.0
    assert free_gpus(quota(gpu_used=20)) == 0.0


@pytest.mark.parametrize("name, problem", [
    ("", "name is required"),
    ("Credit-EDA", "name must be lowercase: 'Credit-EDA' has 'A', 'C', 'D', 'E' (try 'credit-eda')"),
    ("credit_eda", "name may contain only a-z, 0-9 and '-': 'credit_eda' has '_'"),
    ("credit.eda", "name may contain only a-z, 0-9 and '-': 'credit.eda' has '.'"),
    ("-credit", "name must start with a letter (its Service is named after it), not '-'"),
    ("9credit", "name must start with a letter (its Service is named after it), not '9'"),
    ("credit-", "name must end with a letter or digit, not '-'"),
    (" credit", "name ' credit' has spaces around it"),
    ("a" * 53, "name is 53 characters long; at most 52"),
    ("a" * 64, "name is 64 characters long; at most 52"),
])
def test_names_say_exactly_what_is_wrong(name, problem):
    problems = check(form(name=name))
    assert problems and problems[0].startswith(problem), problems


def test_a_name_may_have_several_problems():
    assert check(form(name="My_NB.")) == [
        "name must be lowercase: 'My_NB.' has 'B', 'M', 'N' (try 'my-nb')",
        "name may contain only a-z, 0-9 and '-': 'My_NB.' has '.', '_'",
        "name must end with a letter or digit, not '.'"]


def test_the_general_dns_label_check():
    assert check_name("a" * 63) == []
    assert check_name("a" * 64) == ["name is 64 characters long; at most 63"]
    assert check_name("9lives") == []  # a plain DNS-1123 label may start with a digit
    assert check_name("x\x1b[31m", "new_name")[0].startswith("new_name may contain only")
    assert "\x1b" not in " ".join(check_name("x\x1b[31m"))  # no escape reaches a terminal
    assert len(check_name("a" * NOTEBOOK_NAME_MAX, max_len=NOTEBOOK_NAME_MAX)) == 0


def test_namespace_image_existing_name():
    assert check(form(namespace="ns-other")) == [
        "you may not create notebooks in 'ns-other' (you may in: ns-risk-scorecard)"]
    assert check(form(), allowed=()) == [
        "you may not create notebooks in 'ns-risk-scorecard', nor in any other namespace"]
    assert check(form(namespace="")) == ["namespace is required"]
    assert check(form(image="docker.io/library/python:3.11")) == [
        "image 'docker.io/library/python:3.11' is not one of the configured images ([notebooks] images): "
        + ", ".join(IMAGES)]
    assert check(form(image="")) == ["image is required"]
    assert check(form(), existing={"credit-eda"}) == ["a notebook named 'credit-eda' exists already in "
                                                      "ns-risk-scorecard"]


@pytest.mark.parametrize("field, value, problem", [
    ("cpu", "", "cpu is required"),
    ("cpu", "four", "cpu 'four' is not a Kubernetes quantity (e.g. 4, 0.5 or 500m)"),
    ("cpu", "0", "cpu must be more than 0"),
    ("cpu", "-1", "cpu must be more than 0"),
    ("memory", "16GB", "memory '16GB' is not a Kubernetes quantity (e.g. 8Gi or 512Mi)"),
    ("memory", "16", "memory '16' is only 16 bytes; give a unit, e.g. '16Gi'"),
    ("gpus", "1.5", "gpus must be a whole number, not '1.5'"),
    ("gpus", 1.5, "gpus must be a whole number, not 1.5"),
    ("gpus", "-1", "gpus must be 0 or more, not -1"),
    ("gpus", True, "gpus True is not a whole number"),
    ("workspace", "", "workspace is required"),
    ("workspace", "data/x", "workspace 'data/x' must be an absolute path (starting with '/')"),
    ("workspace", "/data/../etc", "workspace '/data/../etc' must not contain '.' or '..' parts"),
    ("workspace", "/data/my files", "workspace '/data/my files' must not contain spaces or control characters"),
    ("workspace", "/", "workspace cannot be '/'"),
])
def test_quantities_and_paths(field, value, problem):
    problems = check(form(**{field: value}))
    assert problems and problems[0].startswith(problem), problems


def test_numbers_as_typed_or_as_numbers():
    assert check(form(cpu=4, memory="8Gi", gpus=2), q=quota(gpu_used=0)) == []
    assert check(form(gpus=""), q=quota()) == []  # empty means none
    assert check(form(gpus=2.0), q=quota(gpu_used=0)) == []


@given(st.text(max_size=80))
@hsettings(max_examples=300, deadline=None)
def test_any_name_is_either_valid_or_explained(name):
    problems = check_name(name, max_len=NOTEBOOK_NAME_MAX, letter_first=True)
    valid = bool(re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])?", name)) and len(name) <= NOTEBOOK_NAME_MAX
    assert (problems == []) == valid
    assert all("\n" not in p and "\x1b" not in p for p in problems)


# ------------------------------------------------------------------------------------------ the body
@pytest.mark.parametrize("version", ["kubeflow.org/v1", "kubeflow.org/v1alpha1"])
def test_notebook_body_is_shaped_like_prophecis(version):
    body = notebook_body(form(), "lihua", version)
    assert body["apiVersion"] == version and body["kind"] == "Notebook"
    assert body["metadata"] == {"name": "credit-eda", "namespace": NS, "labels": {
        "prophecis-UserId": "lihua", "prophecis-ProxyUserId": "lihua",
        "prophecis-WorkdDir": "data_bdap-ss_mlss-data_lihua", "app": "credit-eda"}}
    spec = body["spec"]["template"]["spec"]
    (c,) = spec["containers"]
    assert c["name"] == "notebook-container" and c["image"] == IMAGES[1]
    env = {e["name"]: e["value"] for e in c["env"]}
    assert env["NB_PREFIX"] == f"/notebook/{NS}/credit-eda"
    assert env["NB_USER"] == env["CREATE_USER"] == env["PROXY_USER"] == "lihua"
    assert env["workdir"] == "/data/bdap-ss/mlss-data/lihua" and "NVIDIA_VISIBLE_DEVICES" not in env
    assert not [k for k in env if "token" in k.lower()]  # the platform injects its own; we send none
    assert c["resources"]["limits"] == c["resources"]["requests"] == {"cpu": "4", "memory": "16Gi",
                                                                      "nvidia.com/gpu": "1"}
    vols = {v["name"]: v for v in spec["volumes"]}
    assert vols["dshm"]["emptyDir"] == {"medium": "Memory"}
    assert vols["workdir"]["hostPath"]["path"] == "/data/bdap-ss/mlss-data/lihua"
    assert vols["notebook-entrypoint-files"]["configMap"]["name"] == "notebook-entrypoint-files"
    assert {m["mountPath"] for m in c["volumeMounts"]} == {"/dev/shm", "/workspace", "/etc/config"}
    # the console's own parser reads it back as the notebook the form described
    parsed = parse_notebook({**body, "metadata": {**body["metadata"], "uid": "u"}})
    assert (parsed.user, parsed.image, parsed.gpus, parsed.cpu, parsed.memory) == ("lihua", IMAGES[1], 1, "4", "16Gi")
    assert parsed.url == f"/notebook/{NS}/credit-eda" and parsed.workspace == "/data/bdap-ss/mlss-data/lihua"


def test_a_cpu_notebook_hides_the_gpus_and_odd_users_make_valid_labels():
    body = notebook_body(form(gpus=0), "alice@example.com", "kubeflow.org/v1")
    c = body["spec"]["template"]["spec"]["containers"][0]
    assert "nvidia.com/gpu" not in c["resources"]["limits"]
    assert {"name": "NVIDIA_VISIBLE_DEVICES", "value": ""} in c["env"]
    assert body["metadata"]["labels"]["prophecis-UserId"] == "alice_example.com"


# ------------------------------------------------------------------------------------------ predictions
def test_predict_paths_per_protocol():
    assert predict_path("seldon", "classifier") == "api/v1.0/predictions"
    assert predict_path("", "classifier") == "api/v1.0/predictions"
    assert predict_path("v2", "classifier") == "v2/models/classifier/infer"
    assert predict_path("kfserving", "classifier") == "v2/models/classifier/infer"
    assert predict_path("tensorflow", "classifier") == "v1/models/classifier:predict"


@pytest.mark.parametrize("impl", ["SKLEARN_SERVER", "XGBOOST_SERVER", "TENSORFLOW_SERVER", "MLFLOW_SERVER",
                                  "TRITON_SERVER", "MODEL", "", "SOMETHING_NEW"])
@pytest.mark.parametrize("protocol", ["seldon", "v2", "kfserving", "tensorflow"])
def test_every_implementation_has_a_sample(impl, protocol):
    sample = sample_payload(impl, protocol)
    assert isinstance(sample, dict) and sample
    json.dumps(sample)  # sendable as is
    if impl == "TRITON_SERVER" or protocol in ("v2", "kfserving"):
        assert "inputs" in sample and all({"name", "shape", "datatype", "data"} <= set(i) for i in sample["inputs"])
    elif protocol == "tensorflow":
        assert "instances" in sample
    else:
        assert "data" in sample


def test_seldon_samples_use_the_message_each_server_reads():
    assert sample_payload("SKLEARN_SERVER", "seldon") == {"data": {"ndarray": [[5.1, 3.5, 1.4, 0.2]]}}
    assert sample_payload("TENSORFLOW_SERVER", "seldon") == {"data": {"ndarray": [[5.1, 3.5, 1.4, 0.2]]}}
    assert set(sample_payload("MLFLOW_SERVER", "seldon")["data"]) == {"names", "ndarray"}
    assert sample_payload("XGBOOST_SERVER") == sample_payload("XGBOOST_SERVER", "seldon")


def test_forms_load_no_textual():
    code = ("import sys, prophecis_tui.forms; "
            "bad = [m for m in sys.modules if m == 'textual' or m.startswith(('textual.', 'widgets', 'screens'))]; "
            "print(bad); assert not bad")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
