"""Tests for the simulator's merge, JSON and strategic merge patches."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prophecis_tui.simulator.patch import (
    PatchError,
    json_patch,
    merge_patch,
    strategic_merge_patch,
)

# --------------------------------------------------------------------------
# RFC 7386 merge patch
# --------------------------------------------------------------------------

RFC7386_APPENDIX_A = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("target", "patch", "expected"), RFC7386_APPENDIX_A)
def test_merge_patch_rfc7386_appendix_a(target: Any, patch: Any, expected: Any) -> None:
    assert merge_patch(target, patch) == expected


def test_merge_patch_rfc7386_section_3_example() -> None:
    target = {
        "title": "Goodbye!",
        "author": {"givenName": "John", "familyName": "Doe"},
        "tags": ["example", "sample"],
        "content": "This will be unchanged",
    }
    patch = {
        "title": "Hello!",
        "phoneNumber": "+01-123-456-7890",
        "author": {"familyName": None},
        "tags": ["example"],
    }
    assert merge_patch(target, patch) == {
        "title": "Hello!",
        "author": {"givenName": "John"},
        "tags": ["example"],
        "content": "This will be unchanged",
        "phoneNumber": "+01-123-456-7890",
    }


def test_merge_patch_kubeflow_notebook_start() -> None:
    notebook = {
        "metadata": {
            "name": "nb",
            "annotations": {"kubeflow-resource-stopped": "2024-01-01T00:00:00Z", "keep": "me"},
        },
        "spec": {"template": {"spec": {"containers": [{"name": "nb"}]}}},
    }
    patch = {"metadata": {"annotations": {"kubeflow-resource-stopped": None}}}
    result = merge_patch(notebook, patch)
    assert result["metadata"]["annotations"] == {"keep": "me"}
    assert result["spec"] == notebook["spec"]
    assert "kubeflow-resource-stopped" in notebook["metadata"]["annotations"]


def test_merge_patch_result_shares_nothing_with_inputs() -> None:
    target = {"a": {"b": [1]}, "keep": {"x": 1}}
    patch = {"c": {"d": [2]}}
    result = merge_patch(target, patch)
    result["a"]["b"].append(9)
    result["keep"]["x"] = 2
    result["c"]["d"].append(9)
    assert target == {"a": {"b": [1]}, "keep": {"x": 1}}
    assert patch == {"c": {"d": [2]}}


# --------------------------------------------------------------------------
# RFC 6902 JSON patch
# --------------------------------------------------------------------------

RFC6902_APPENDIX_A = [
    pytest.param(  # A.1 adding an object member
        {"foo": "bar"},
        [{"op": "add", "path": "/baz", "value": "qux"}],
        {"baz": "qux", "foo": "bar"},
        id="A.1-add-member",
    ),
    pytest.param(  # A.2 adding an array element
        {"foo": ["bar", "baz"]},
        [{"op": "add", "path": "/foo/1", "value": "qux"}],
        {"foo": ["bar", "qux", "baz"]},
        id="A.2-add-element",
    ),
    pytest.param(  # A.3 removing an object member
        {"baz": "qux", "foo": "bar"},
        [{"op": "remove", "path": "/baz"}],
        {"foo": "bar"},
        id="A.3-remove-member",
    ),
    pytest.param(  # A.4 removing an array element
        {"foo": ["bar", "qux", "baz"]},
        [{"op": "remove", "path": "/foo/1"}],
        {"foo": ["bar", "baz"]},
        id="A.4-remove-element",
    ),
    pytest.param(  # A.5 replacing a value
        {"baz": "qux", "foo": "bar"},
        [{"op": "replace", "path": "/baz", "value": "boo"}],
        {"baz": "boo", "foo": "bar"},
        id="A.5-replace",
    ),
    pytest.param(  # A.6 moving a value
        {"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}},
        [{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}],
        {"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}},
        id="A.6-move-value",
    ),
    pytest.param(  # A.7 moving an array element
        {"foo": ["all", "grass", "cows", "eat"]},
        [{"op": "move", "from": "/foo/1", "path": "/foo/3"}],
        {"foo": ["all", "cows", "eat", "grass"]},
        id="A.7-move-element",
    ),
    pytest.param(  # A.8 testing a value: success
        {"baz": "qux", "foo": ["a", 2, "c"]},
        [
            {"op": "test", "path": "/baz", "value": "qux"},
            {"op": "test", "path": "/foo/1", "value": 2},
        ],
        {"baz": "qux", "foo": ["a", 2, "c"]},
        id="A.8-test-success",
    ),
    pytest.param(  # A.10 adding a nested member object
        {"foo": "bar"},
        [{"op": "add", "path": "/child", "value": {"grandchild": {}}}],
        {"foo": "bar", "child": {"grandchild": {}}},
        id="A.10-add-nested",
    ),
    pytest.param(  # A.11 ignoring unrecognized elements
        {"foo": "bar"},
        [{"op": "add", "path": "/baz", "value": "qux", "xyz": 123}],
        {"foo": "bar", "baz": "qux"},
        id="A.11-ignore-unknown-members",
    ),
    pytest.param(  # A.14 ~ escape ordering
        {"/": 9, "~1": 10},
        [{"op": "test", "path": "/~01", "value": 10}],
        {"/": 9, "~1": 10},
        id="A.14-escape-ordering",
    ),
    pytest.param(  # A.16 adding an array value
        {"foo": ["bar"]},
        [{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}],
        {"foo": ["bar", ["abc", "def"]]},
        id="A.16-add-array-value",
    ),
]


@pytest.mark.parametrize(("target", "ops", "expected"), RFC6902_APPENDIX_A)
def test_json_patch_rfc6902_appendix_a(target: Any, ops: list[dict], expected: Any) -> None:
    before = copy.deepcopy(target)
    assert json_patch(target, ops) == expected
    assert target == before


@pytest.mark.parametrize(
    ("target", "ops", "expected"),
    [
        ({"a": 1}, [{"op": "replace", "path": "", "value": [1]}], [1]),
        ({"a": 1}, [{"op": "add", "path": "", "value": {"b": 2}}], {"b": 2}),
        ({"a/b": 1, "m~n": 2}, [{"op": "remove", "path": "/a~1b"}, {"op": "remove", "path": "/m~0n"}], {}),
        ({"a": [1, 2]}, [{"op": "add", "path": "/a/0", "value": 0}], {"a": [0, 1, 2]}),
        ({"a": [1, 2]}, [{"op": "add", "path": "/a/2", "value": 3}], {"a": [1, 2, 3]}),
        ({"a": [1, 2]}, [{"op": "replace", "path": "/a/1", "value": 9}], {"a": [1, 9]}),
        ({"a": {"b": 1}}, [{"op": "copy", "from": "/a", "path": "/c"}], {"a": {"b": 1}, "c": {"b": 1}}),
        ({"a": [1]}, [{"op": "copy", "from": "/a/0", "path": "/a/-"}], {"a": [1, 1]}),
        ({"a": 1}, [{"op": "move", "from": "/a", "path": "/a"}], {"a": 1}),
        ({"a": None}, [{"op": "test", "path": "/a", "value": None}], {"a": None}),
        ({"a": 1}, [{"op": "test", "path": "/a", "value": 1.0}], {"a": 1}),
        ({"": 1}, [{"op": "test", "path": "/", "value": 1}], {"": 1}),
        (
            {"metadata": {"labels": {"app": "x"}}},
            [{"op": "add", "path": "/metadata/labels/training.kubeflow.org~1job-name", "value": "j"}],
            {"metadata": {"labels": {"app": "x", "training.kubeflow.org/job-name": "j"}}},
        ),
    ],
)
def test_json_patch_operations(target: Any, ops: list[dict], expected: Any) -> None:
    assert json_patch(target, ops) == expected


def test_json_patch_copy_is_independent() -> None:
    result = json_patch({"a": {"b": 1}}, [{"op": "copy", "from": "/a", "path": "/c"}])
    result["c"]["b"] = 2
    assert result["a"]["b"] == 1


@pytest.mark.parametrize(
    ("target", "ops", "fragment"),
    [
        # A.9 testing a value: error
        ({"baz": "qux"}, [{"op": "test", "path": "/baz", "value": "bar"}], "test failed"),
        # A.12 adding to a nonexistent target
        ({"foo": "bar"}, [{"op": "add", "path": "/baz/bat", "value": "qux"}], "missing"),
        # A.15 comparing strings and numbers
        (
            {"/": 9, "~1": 10},
            [{"op": "test", "path": "/~01", "value": "10"}],
            "test failed",
        ),
        ({"a": True}, [{"op": "test", "path": "/a", "value": 1}], "test failed"),
        ({"a": [1]}, [{"op": "test", "path": "/a", "value": [1, 2]}], "test failed"),
        ({"a": 1}, [{"op": "remove", "path": "/b"}], "nonexistent"),
        ({"a": [1]}, [{"op": "remove", "path": "/a/1"}], "out of bounds"),
        ({"a": [1]}, [{"op": "remove", "path": "/a/-"}], "invalid array index"),
        ({"a": [1]}, [{"op": "add", "path": "/a/01", "value": 0}], "invalid array index"),
        ({"a": [1]}, [{"op": "add", "path": "/a/2", "value": 0}], "out of bounds"),
        ({"a": 1}, [{"op": "replace", "path": "/b", "value": 0}], "missing"),
        ({"a": 1}, [{"op": "move", "from": "/b", "path": "/c"}], "missing"),
        ({"a": {"b": 1}}, [{"op": "move", "from": "/a", "path": "/a/b/c"}], "own child"),
        ({"a": 1}, [{"op": "copy", "from": "/b", "path": "/c"}], "missing"),
        ({"a": 1}, [{"op": "add", "path": "a", "value": 0}], "start with '/'"),
        ({"a": 1}, [{"op": "test", "path": "/a~2", "value": 1}], "invalid escape"),
        ({"a": 1}, [{"op": "remove", "path": ""}], "whole document"),
        ({"a": 1}, [{"op": "frobnicate", "path": "/a"}], "Unexpected kind: frobnicate"),
        ({"a": 1}, [{"path": "/a"}], "Unexpected kind"),
        ({"a": 1}, [{"op": "add", "value": 1}], "missing path"),
        ({"a": 1}, [{"op": "add", "path": "/b"}], "missing value"),
        ({"a": 1}, [{"op": "move", "path": "/b"}], "missing from"),
        ({"a": "s"}, [{"op": "add", "path": "/a/b", "value": 1}], "does not apply"),
    ],
)
def test_json_patch_errors_are_422(target: Any, ops: list[dict], fragment: str) -> None:
    before = copy.deepcopy(target)
    with pytest.raises(PatchError) as info:
        json_patch(target, ops)
    assert fragment in str(info.value)
    assert info.value.code == 422
    assert target == before


def test_json_patch_is_all_or_nothing() -> None:
    target = {"a": 1}
    ops = [{"op": "add", "path": "/b", "value": 2}, {"op": "remove", "path": "/zzz"}]
    with pytest.raises(PatchError):
        json_patch(target, ops)
    assert target == {"a": 1}


@pytest.mark.parametrize("ops", [{"op": "add"}, "x", None, [1], [["op"]]])
def test_json_patch_malformed_body_is_400(ops: Any) -> None:
    with pytest.raises(PatchError) as info:
        json_patch({}, ops)
    assert info.value.code == 400


def test_patch_error_defaults_to_422() -> None:
    assert PatchError("x").code == 422
    assert isinstance(PatchError("x"), ValueError)


# --------------------------------------------------------------------------
# Strategic merge patch
# --------------------------------------------------------------------------

def make_pod() -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "nb-0",
            "labels": {"app": "nb"},
            "annotations": {"kubeflow-resource-stopped": "true", "other": "x"},
            "finalizers": ["a", "b"],
            "ownerReferences": [{"uid": "u1", "kind": "Notebook", "name": "nb"}],
        },
        "spec": {
            "containers": [
                {
                    "name": "main",
                    "image": "jupyter:1",
                    "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                    "ports": [{"containerPort": 8888, "name": "http"}],
                    "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                    "args": ["--x", "--y"],
                },
                {"name": "sidecar", "image": "proxy:1"},
            ],
            "volumes": [{"name": "data", "emptyDir": {}}],
            "tolerations": [{"key": "gpu", "operator": "Exists"}],
        },
        "status": {
            "phase": "Running",
            "conditions": [
                {"type": "Ready", "status": "True"},
                {"type": "PodScheduled", "status": "True"},
            ],
        },
    }


def test_strategic_merges_containers_by_name() -> None:
    pod = make_pod()
    before = copy.deepcopy(pod)
    result = strategic_merge_patch(
        pod,
        {"spec": {"containers": [{"name": "sidecar", "image": "proxy:2"}, {"name": "new", "image": "n"}]}},
        "Pod",
    )
    containers = result["spec"]["containers"]
    assert [c["name"] for c in containers] == ["main", "sidecar", "new"]
    assert containers[0] == before["spec"]["containers"][0]
    assert containers[1] == {"name": "sidecar", "image": "proxy:2"}
    assert containers[2] == {"name": "new", "image": "n"}
    assert pod == before


def test_strategic_merges_env_by_name() -> None:
    result = strategic_merge_patch(
        make_pod(),
        {"spec": {"containers": [{"name": "main", "env": [
            {"name": "B", "value": "20"}, {"name": "C", "value": "3"},
        ]}]}},
        "Pod",
    )
    assert result["spec"]["containers"][0]["env"] == [
        {"name": "A", "value": "1"}, {"name": "B", "value": "20"}, {"name": "C", "value": "3"},
    ]
    assert result["spec"]["containers"][0]["image"] == "jupyter:1"


def test_strategic_merges_ports_volume_mounts_volumes_conditions_owners() -> None:
    patch = {
        "metadata": {"ownerReferences": [{"uid": "u2", "kind": "Job", "name": "j"}]},
        "spec": {
            "containers": [{
                "name": "main",
                "ports": [{"containerPort": 8888, "protocol": "TCP"}, {"containerPort": 6006}],
                "volumeMounts": [{"name": "logs", "mountPath": "/logs"}],
            }],
            "volumes": [{"name": "logs", "emptyDir": {}}],
        },
        "status": {"conditions": [{"type": "Ready", "status": "False"}]},
    }
    result = strategic_merge_patch(make_pod(), patch, "Pod")
    main = result["spec"]["containers"][0]
    assert main["ports"] == [
        {"containerPort": 8888, "name": "http", "protocol": "TCP"}, {"containerPort": 6006},
    ]
    assert [m["mountPath"] for m in main["volumeMounts"]] == ["/data", "/logs"]
    assert [v["name"] for v in result["spec"]["volumes"]] == ["data", "logs"]
    assert result["status"]["conditions"] == [
        {"type": "Ready", "status": "False"}, {"type": "PodScheduled", "status": "True"},
    ]
    assert [o["uid"] for o in result["metadata"]["ownerReferences"]] == ["u1", "u2"]


def test_strategic_replaces_lists_without_merge_key() -> None:
    result = strategic_merge_patch(
        make_pod(),
        {
            "metadata": {"finalizers": ["c"]},
            "spec": {
                "containers": [{"name": "main", "args": ["--z"]}],
                "tolerations": [{"key": "cpu", "operator": "Exists"}],
            },
        },
        "Pod",
    )
    assert result["metadata"]["finalizers"] == ["c"]
    assert result["spec"]["containers"][0]["args"] == ["--z"]
    assert result["spec"]["tolerations"] == [{"key": "cpu", "operator": "Exists"}]


def test_strategic_patch_delete_directive_removes_element() -> None:
    result = strategic_merge_patch(
        make_pod(),
        {"spec": {"containers": [
            {"name": "sidecar", "$patch": "delete"},
            {"name": "main", "env": [{"name": "A", "$patch": "delete"}]},
        ]}},
        "Pod",
    )
    assert [c["name"] for c in result["spec"]["containers"]] == ["main"]
    assert result["spec"]["containers"][0]["env"] == [{"name": "B", "value": "2"}]


def test_strategic_deletions_apply_before_merges() -> None:
    """As in the apiserver, a delete and a merge of the same key leave the merged one."""
    result = strategic_merge_patch(
        make_pod(),
        {"spec": {"containers": [
            {"name": "sidecar", "image": "proxy:9"},
            {"name": "sidecar", "$patch": "delete"},
        ]}},
        "Pod",
    )
    assert result["spec"]["containers"][1:] == [{"name": "sidecar", "image": "proxy:9"}]


def test_strategic_delete_of_absent_element_is_a_no_op() -> None:
    result = strategic_merge_patch(
        make_pod(), {"spec": {"containers": [{"name": "ghost", "$patch": "delete"}]}}, "Pod"
    )
    assert [c["name"] for c in result["spec"]["containers"]] == ["main", "sidecar"]


def test_strategic_set_element_order_is_dropped() -> None:
    patch = {"spec": {
        "$setElementOrder/containers": [{"name": "sidecar"}, {"name": "main"}],
        "containers": [{"name": "main", "image": "jupyter:2"}],
    }}
    result = strategic_merge_patch(make_pod(), patch, "Pod")
    assert not any(k.startswith("$") for k in result["spec"])
    assert [c["name"] for c in result["spec"]["containers"]] == ["main", "sidecar"]
    assert result["spec"]["containers"][0]["image"] == "jupyter:2"


def test_strategic_null_deletes_annotation_key() -> None:
    pod = make_pod()
    result = strategic_merge_patch(
        pod, {"metadata": {"annotations": {"kubeflow-resource-stopped": None}}}, "Pod"
    )
    assert result["metadata"]["annotations"] == {"other": "x"}
    assert pod["metadata"]["annotations"]["kubeflow-resource-stopped"] == "true"


def test_strategic_null_deletes_field_inside_keyed_element() -> None:
    result = strategic_merge_patch(
        make_pod(), {"spec": {"containers": [{"name": "main", "args": None}]}}, "Pod"
    )
    assert "args" not in result["spec"]["containers"][0]


def test_strategic_replace_directive_on_map() -> None:
    result = strategic_merge_patch(
        make_pod(), {"metadata": {"labels": {"$patch": "replace", "new": "1"}}}, "Pod"
    )
    assert result["metadata"]["labels"] == {"new": "1"}


def test_strategic_replace_directive_on_list_element() -> None:
    result = strategic_merge_patch(
        make_pod(),
        {"spec": {"containers": [{"name": "main", "$patch": "replace", "image": "x"}]}},
        "Pod",
    )
    assert result["spec"]["containers"][0] == {"name": "main", "image": "x"}
    assert result["spec"]["containers"][1]["name"] == "sidecar"


def test_strategic_replace_directive_for_whole_list() -> None:
    result = strategic_merge_patch(
        make_pod(),
        {"spec": {"containers": [{"$patch": "replace"}, {"name": "only", "image": "o"}]}},
        "Pod",
    )
    assert result["spec"]["containers"] == [{"name": "only", "image": "o"}]


def test_strategic_delete_directive_on_map_empties_it() -> None:
    result = strategic_merge_patch(make_pod(), {"metadata": {"labels": {"$patch": "delete"}}}, "Pod")
    assert result["metadata"]["labels"] == {}


def test_strategic_delete_from_primitive_list() -> None:
    result = strategic_merge_patch(
        make_pod(), {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}, "Pod"
    )
    assert result["metadata"]["finalizers"] == ["b"]
    assert not any(k.startswith("$") for k in result["metadata"])


def test_strategic_retain_keys() -> None:
    result = strategic_merge_patch(
        make_pod(),
        {"spec": {"volumes": [{"name": "data", "$retainKeys": ["name", "hostPath"],
                               "hostPath": {"path": "/mnt"}}]}},
        "Pod",
    )
    assert result["spec"]["volumes"] == [{"name": "data", "hostPath": {"path": "/mnt"}}]


def test_strategic_service_ports_merge_by_port() -> None:
    service = {"spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443}]}}
    patch = {"spec": {"ports": [{"port": 80, "targetPort": 9090}]}}
    assert strategic_merge_patch(service, patch, "Service")["spec"]["ports"] == [
        {"port": 80, "targetPort": 9090}, {"port": 443},
    ]
    # the same shape in a kind without that rule is replaced whole
    assert strategic_merge_patch(service, patch, "Widget")["spec"]["ports"] == [
        {"port": 80, "targetPort": 9090},
    ]


def test_strategic_pod_template_in_job_and_unknown_kinds() -> None:
    job = {"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "1"},
                                                         {"name": "b", "image": "1"}]}}}}
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "b", "image": "2"}]}}}}
    for kind in ("Job", "Notebook"):
        result = strategic_merge_patch(job, patch, kind)
        assert result["spec"]["template"]["spec"]["containers"] == [
            {"name": "a", "image": "1"}, {"name": "b", "image": "2"},
        ]


def test_strategic_new_keyed_list_drops_directives() -> None:
    result = strategic_merge_patch(
        {"spec": {}},
        {"spec": {"containers": [{"name": "x", "$patch": "delete"}, {"name": "y", "z": None}]}},
        "Pod",
    )
    assert result == {"spec": {"containers": [{"name": "y"}]}}


@pytest.mark.parametrize(
    ("patch", "code"),
    [
        ({"spec": {"containers": [{"image": "no-name"}]}}, 422),
        ({"metadata": {"labels": {"$patch": "explode"}}}, 400),
        ({"metadata": {"$deleteFromPrimitiveList/finalizers": "a"}}, 400),
        ({"spec": {"volumes": [{"name": "data", "$retainKeys": ["name"], "emptyDir": {}}]}}, 422),
    ],
)
def test_strategic_errors(patch: dict, code: int) -> None:
    with pytest.raises(PatchError) as info:
        strategic_merge_patch(make_pod(), patch, "Pod")
    assert info.value.code == code


def test_strategic_rejects_non_object_patch() -> None:
    with pytest.raises(PatchError) as info:
        strategic_merge_patch(make_pod(), [], "Pod")  # type: ignore[arg-type]
    assert info.value.code == 400


# --------------------------------------------------------------------------
# Property tests
# --------------------------------------------------------------------------

_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5)
_KEYS = st.text(alphabet="abcxyz", min_size=1, max_size=3)
JSON = st.recursive(
    _SCALARS,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(_KEYS, children, max_size=4),
    max_leaves=12,
)
JSON_DICTS = st.dictionaries(_KEYS, JSON, max_size=5)


@given(JSON_DICTS)
def test_merge_patch_with_empty_patch_is_identity(target: dict) -> None:
    assert merge_patch(target, {}) == target


@given(JSON, JSON)
def test_merge_patch_never_mutates_inputs(target: Any, patch: Any) -> None:
    target_before, patch_before = copy.deepcopy(target), copy.deepcopy(patch)
    merge_patch(target, patch)
    assert target == target_before
    assert patch == patch_before


@given(JSON, JSON)
def test_merge_patch_is_idempotent(target: Any, patch: Any) -> None:
    once = merge_patch(target, patch)
    assert merge_patch(once, patch) == once


@given(JSON_DICTS, JSON_DICTS)
def test_strategic_never_mutates_and_is_idempotent(target: dict, patch: dict) -> None:
    target_before, patch_before = copy.deepcopy(target), copy.deepcopy(patch)
    once = strategic_merge_patch(target, patch, "Pod")
    assert target == target_before
    assert patch == patch_before
    assert strategic_merge_patch(once, patch, "Pod") == once


@given(JSON_DICTS, JSON_DICTS)
def test_strategic_equals_merge_patch_without_keyed_lists(target: dict, patch: dict) -> None:
    """With no merge-keyed field names in play, strategic merge is plain merge."""
    assert strategic_merge_patch(target, patch, "Widget") == merge_patch(target, patch)


@given(JSON_DICTS, st.lists(st.sampled_from(["a", "b", "x"]), max_size=3), JSON)
def test_json_patch_add_then_remove_round_trips(target: dict, path: list[str], value: Any) -> None:
    pointer = "/" + "/".join(path) if path else "/new"
    try:
        added = json_patch(target, [{"op": "add", "path": pointer, "value": value}])
    except PatchError:
        return
    before = copy.deepcopy(target)
    assert json_patch(added, [{"op": "test", "path": pointer, "value": value}]) == added
    if pointer.rsplit("/", 1)[1] not in _parent_keys(target, pointer):
        assert json_patch(added, [{"op": "remove", "path": pointer}]) == target
    assert target == before


def _parent_keys(doc: Any, pointer: str) -> set[str]:
    """Keys present in the object that holds ``pointer``'s last token, if any."""
    for token in pointer.split("/")[1:-1]:
        doc = doc.get(token) if isinstance(doc, dict) else None
    return set(doc) if isinstance(doc, dict) else set()


_CONTAINER = st.fixed_dictionaries(
    {"name": st.sampled_from(["a", "b", "c"])},
    optional={
        "image": st.text(alphabet="xyz", max_size=2) | st.none(),
        "env": st.lists(
            st.fixed_dictionaries({"name": st.sampled_from(["E", "F"])},
                                  optional={"value": st.text(alphabet="12", max_size=2)}),
            max_size=2,
        ),
        "$patch": st.sampled_from(["delete", "merge", "replace"]),
    },
)


@given(
    st.lists(_CONTAINER.filter(lambda c: "$patch" not in c and c.get("image", "") is not None),
             max_size=3, unique_by=lambda c: c["name"]),
    st.lists(_CONTAINER, max_size=3, unique_by=lambda c: c["name"]),
)
def test_strategic_keyed_lists_never_mutate_and_are_idempotent(
    containers: list[dict], patch_containers: list[dict]
) -> None:
    target = {"spec": {"containers": containers}}
    patch = {"spec": {"containers": patch_containers}}
    target_before, patch_before = copy.deepcopy(target), copy.deepcopy(patch)
    once = strategic_merge_patch(target, patch, "Pod")
    assert target == target_before
    assert patch == patch_before
    assert strategic_merge_patch(once, patch, "Pod") == once
    names = [c["name"] for c in once["spec"]["containers"]]
    assert len(names) == len(set(names))
    assert not any(k.startswith("$") for c in once["spec"]["containers"] for k in c)
