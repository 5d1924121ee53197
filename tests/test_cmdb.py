"""The CMDB core: files (CSV, JSON, YAML) read all or nothing with errors naming row and field, external
records through a field mapping, the store (by source, atomic, versioned, with precedence), and matching."""

from __future__ import annotations

import json
import os
import stat
import threading

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from prophecis_tui.cmdb import CmdbError, Matcher, from_record, from_records, match, namespace_parts, parse_file
from prophecis_tui.domain import BusinessSystem
from prophecis_tui.sanitize import clean
from prophecis_tui.store import CmdbStore

GOOD_CSV = """\ufeffid,name,tier,department,owner,On-Call,namespaces,segments,labels,deployments,nodes
risk-core,风控核心系统,1,风险管理部,张三,13800000000,ns-risk-core;ns-risk-limit*,,team=risk,,
fraud,反欺诈评分,T2,fraud,李四,,,"fraud|risk-scorecard",team=fraud；app=fraud-*,fraud-xgb*,gpu-node-7
"multi line",多行,,,,,,,,,
"""


def write(tmp_path, name: str, text: str, encoding: str = "utf-8"):
    p = tmp_path / name
    p.write_bytes(text.encode(encoding))
    return p


def sys_(id: str, name: str = "", **kw) -> BusinessSystem:
    return BusinessSystem(id=id, name=name or id.upper(), **kw)


# ------------------------------------------------------------------------------------------ good files
def test_csv_with_cjk_names_lists_aliases_and_bom(tmp_path):
    systems = parse_file(write(tmp_path, "cmdb.csv", GOOD_CSV))
    assert [s.id for s in systems] == ["risk-core", "fraud", "multi line"]
    risk, fraud, multi = systems
    assert risk.name == "风控核心系统" and risk.department == "风险管理部" and risk.owner == "张三"
    assert risk.tier == 1 and risk.oncall == "13800000000"
    assert risk.namespaces == ("ns-risk-core", "ns-risk-limit*") and risk.labels == ("team=risk",)
    assert fraud.tier == 2 and fraud.segments == ("fraud", "risk-scorecard")
    assert fraud.labels == ("team=fraud", "app=fraud-*")  # the full-width ；separates too
    assert fraud.deployments == ("fraud-xgb*",) and fraud.nodes == ("gpu-node-7",)
    assert multi.tier is None and multi.namespaces == ()
    assert {s.source for s in systems} == {"import:cmdb.csv"}


def test_json_list_and_systems_object(tmp_path):
    records = [{"id": 1001, "name": "信贷审批", "tier": 3, "labels": {"team": "credit"},
                "namespaces": ["NS-Credit-*"], "nodes": "10.0.0.7|gpu-node-[1-3]", "source": "ignored"},
               {"id": "mkt", "name": "营销推荐", "segment": "marketing", "on_call": "王五"}]
    a = parse_file(write(tmp_path, "a.json", json.dumps(records, ensure_ascii=False)))
    b = parse_file(write(tmp_path, "b.json", json.dumps({"systems": records})))
    assert [s.model_dump(exclude={"source"}) for s in a] == [s.model_dump(exclude={"source"}) for s in b]
    credit, mkt = a
    assert credit.id == "1001" and credit.labels == ("team=credit",) and credit.namespaces == ("ns-credit-*",)
    assert credit.nodes == ("10.0.0.7", "gpu-node-[1-3]") and credit.source == "import:a.json"
    assert mkt.segments == ("marketing",) and mkt.oncall == "王五"


def test_yaml_keeps_every_scalar_as_text(tmp_path):
    text = """
systems:
  - id: 012          # not the octal number 10
    name: no         # not False
    tier: "2"
    namespaces: [ns-risk-a, ns-risk-b]
  - id: 支付网关
    name: 支付网关
    owner: ~
    labels:
      app: pay
"""
    s1, s2 = parse_file(write(tmp_path, "cmdb.yaml", text))
    assert (s1.id, s1.name, s1.tier, s1.namespaces) == ("012", "no", 2, ("ns-risk-a", "ns-risk-b"))
    assert s2.id == "支付网关" and s2.owner == "" and s2.labels == ("app=pay",)


def test_gb18030_csv_from_a_chinese_excel(tmp_path):
    p = write(tmp_path, "cmdb.csv", "id,name\nrisk,风控核心系统\n", encoding="gb18030")
    assert parse_file(p)[0].name == "风控核心系统"


@pytest.mark.parametrize("text", [
    '[{"id": "a", "name": "A"}]',
    "- id: a\n  name: A\n",
    "systems:\n- id: a\n  name: A\n",
    "id,name\na,A\n",
    "id\tname\na\tA\n",
])
def test_format_sniffed_without_extension(tmp_path, text):
    assert [(s.id, s.name) for s in parse_file(write(tmp_path, "export", text))] == [("a", "A")]


def test_control_characters_are_neutralised(tmp_path):
    records = [{"id": "x", "name": "\x1b[31m红色\x1b[0m\u202etxt", "owner": "a\nb\x07"}]
    s = parse_file(write(tmp_path, "c.json", json.dumps(records)))[0]
    assert s.name == "\\x1b[31m红色\\x1b[0m\\u202etxt" and s.owner == "a\\nb\\x07"
    assert "\x1b" not in s.model_dump_json()


# ------------------------------------------------------------------------------------------ bad files
BAD = {
    "missing id": ("cmdb.csv", "id,name\nok,OK\n,无名\n", ["row 2 (line 3): id: required"]),
    "missing name": ("cmdb.json", '[{"id": "a", "name": "A"}, {"id": "b"}]', ['row 2 (id "b"): name: required']),
    "bad tier": ("cmdb.csv", "id,name,tier\na,A,1\nb,B,2\nrisk-core,风控,high\n",
                 ['row 3 (line 4, id "risk-core"): tier: must be a whole number 1-5, got "high"']),
    "tier out of range": ("cmdb.json", '[{"id": "a", "name": "A", "tier": 9}]',
                          ['row 1 (id "a"): tier: must be a whole number 1-5, got 9']),
    "duplicate id": ("cmdb.yaml", "- {id: a, name: A}\n- {id: b, name: B}\n- {id: a, name: A2}\n",
                     ['row 3 (id "a"): id: duplicate, also row 1']),
    "unknown field": ("cmdb.json", '[{"id": "a", "name": "A", "tire": 1}]',
                      ['row 1 (id "a"): unknown field "tire" (did you mean "tier"?)']),
    "unknown column": ("cmdb.csv", "id,name,ownr\na,A,me\n",
                       ['line 1 (header): column 3: unknown field "ownr" (did you mean "owner"?)']),
    "value without a header": ("cmdb.csv", "id,name\na,A,extra\n",
                               ['row 1 (line 2, id "a"): unknown field "(column 3, no header)"']),
    "no id column": ("cmdb.csv", "name,tier\nA,1\n", ["line 1 (header): no 'id' column"]),
    "bad label": ("cmdb.csv", "id,name,labels\na,A,team=x;fraud\n",
                  ['row 1 (line 2, id "a"): labels: "fraud": must be key=value']),
    "comma separated": ("cmdb.csv", 'id,name,namespaces\na,A,"ns-a,ns-b"\n',
                        ['row 1 (line 2, id "a"): namespaces: "ns-a,ns-b": one entry per item']),
    "segment with ns-": ("cmdb.csv", "id,name,segments\na,A,ns-risk\n",
                         ['row 1 (line 2, id "a"): segments: "ns-risk": a segment is the part after "ns-"']),
    "field twice": ("cmdb.json", '[{"id": "a", "name": "A", "name": "B"}]', ['field "name" given twice']),
    "alias twice": ("cmdb.json", '[{"id": "a", "name": "A", "oncall": "x", "on-call": "y"}]',
                    ['row 1 (id "a"): oncall: given twice']),
    "yaml key twice": ("cmdb.yaml", "- id: a\n  name: A\n  name: B\n", ['line 3 column 3: field "name" given twice']),
    "malformed JSON": ("cmdb.json", '[{"id": "a", "name": "A"}\n {"id": "b"}]',
                       ["not valid JSON: line 2 column 2: Expecting ',' delimiter"]),
    "malformed YAML": ("cmdb.yaml", "- id: a\n  name: [unclosed\n", ["not valid YAML: line 3 column 1"]),
    "not a list": ("cmdb.json", '{"id": "a", "name": "A"}', ["top level: must be a list of systems"]),
    "row not an object": ("cmdb.json", '[{"id": "a", "name": "A"}, "b"]', ['row 2: must be an object']),
    "list of objects": ("cmdb.json", '[{"id": "a", "name": "A", "nodes": [{"x": 1}]}]',
                        ['row 1 (id "a"): nodes: entries must be text, got a mapping']),
    "empty": ("cmdb.csv", "", ["the file is empty"]),
    "header only": ("cmdb.csv", "id,name\n", ["no business systems in the file"]),
    "not text": ("cmdb.csv", "\xff\xfe\x00", []),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_file_names_row_and_field(tmp_path, case):
    name, text, expected = BAD[case]
    p = tmp_path / name
    p.write_bytes(text.encode("latin-1") if case == "not text" else text.encode())
    with pytest.raises(CmdbError) as err:
        parse_file(p)
    for part in expected:
        assert any(part in problem for problem in err.value.problems), (part, err.value.problems)
    assert all("\n" not in problem for problem in err.value.problems)


def test_every_problem_is_reported_at_once(tmp_path):
    text = "id,name,tier,labels\na,A,x,\n,B,,\nc,C,,oops\n"
    with pytest.raises(CmdbError) as err:
        parse_file(write(tmp_path, "c.csv", text))
    assert [p.split(":")[0] for p in err.value.problems] == ['row 1 (line 2, id "a")', "row 2 (line 3)",
                                                            'row 3 (line 4, id "c")']
    assert str(err.value).endswith("(and 2 more problems)")


def test_unreadable_file(tmp_path):
    with pytest.raises(CmdbError, match="cannot read"):
        parse_file(tmp_path / "missing.csv")


# ------------------------------------------------------------------------------------------ from_record (REST)
def test_from_record_with_a_mapping():
    record = {"sys_code": "RC001", "sys_name": "风控核心", "level": "T1", "dept": {"name": "风险"},
              "ns": "ns-risk-*;ns-limit-*", "hosts": ["gpu-node-1", "10.1.2.3"], "created": "2020-01-01"}
    mapping = {"id": "sys_code", "name": "sys_name", "tier": "level", "department": "dept.name",
               "namespaces": "ns", "nodes": "hosts"}
    s = from_record(record, mapping, "rest:cmdb.example")
    assert (s.id, s.name, s.tier, s.department) == ("RC001", "风控核心", 1, "风险")
    assert s.namespaces == ("ns-risk-*", "ns-limit-*") and s.nodes == ("gpu-node-1", "10.1.2.3")
    assert s.source == "rest:cmdb.example"


def test_from_record_errors_name_the_external_field():
    with pytest.raises(CmdbError, match=r'id: required \(read from "sys_code"\)'):
        from_record({"sys_name": "x"}, {"id": "sys_code", "name": "sys_name"}, "rest:x")
    with pytest.raises(CmdbError, match='mapping: unknown field "team"'):
        from_record({}, {"team": "x"}, "rest:x")
    # without a mapping, other fields are ignored unless strict (a file)
    assert from_record({"id": "a", "name": "A", "extra": 1}).id == "a"
    with pytest.raises(CmdbError, match='unknown field "extra"'):
        from_record({"id": "a", "name": "A", "extra": 1}, strict=True)


def test_from_records_rejects_duplicates_and_names_rows():
    with pytest.raises(CmdbError) as err:
        from_records([{"id": "a", "name": "A"}, {"id": "a", "name": "B"}, {"id": "c", "name": "C", "tier": 0}])
    assert err.value.problems == ['row 2 (id "a"): id: duplicate, also row 1',
                                  'row 3 (id "c"): tier: must be a whole number 1-5, got 0']


# ------------------------------------------------------------------------------------------ store
def test_store_replace_is_per_source_and_versioned(tmp_path):
    store = CmdbStore(tmp_path / "cmdb.db")
    assert store.systems() == [] and store.version == 0 and store.updated_at("rest:x") is None
    assert store.replace_source("rest:x", [sys_("b", tier=2), sys_("a"), sys_("c", tier=1)]) == 3
    assert [s.id for s in store.systems()] == ["c", "b", "a"]  # by tier, none last
    assert {s.source for s in store.systems()} == {"rest:x"}  # the source is the one replaced
    v1, t1 = store.version, store.updated_at("rest:x")
    assert v1 == 1 and t1 is not None
    store.replace_source("rest:x", [sys_("c", tier=1), sys_("b", tier=2), sys_("a")])  # the same records
    assert store.version == v1 and store.updated_at("rest:x") >= t1
    store.replace_source("import:f.csv", [sys_("d", name="丁")])
    store.replace_source("rest:x", [sys_("a", name="新")])
    assert store.version == v1 + 2
    assert [(s.id, s.name) for s in store.systems()] == [("a", "新"), ("d", "丁")]
    assert store.get("d").name == "丁" and store.get("b") is None
    assert [(x.source, x.count) for x in store.sources()] == [("import:f.csv", 1), ("rest:x", 1)]
    assert store.remove_source("rest:x") == 1 and store.version == v1 + 3
    assert [s.id for s in store.systems()] == ["d"] and store.updated_at("rest:x") is None
    store.close()
    assert stat.S_IMODE(os.stat(tmp_path / "cmdb.db").st_mode) == 0o600


def test_store_refuses_duplicate_ids_and_leaves_everything(tmp_path):
    store = CmdbStore(tmp_path / "cmdb.db")
    store.replace_source("rest:x", [sys_("a"), sys_("b")])
    before = (store.systems(), store.version)
    with pytest.raises(CmdbError, match='rest:x: duplicate id "a"'):
        store.replace_source("rest:x", [sys_("a"), sys_("c"), sys_("a")])
    assert (store.systems(), store.version) == before


def test_store_rolls_back_a_failure_half_way(tmp_path):
    """The third record fails inside the transaction (after the delete and two inserts): nothing changes."""
    store = CmdbStore(tmp_path / "cmdb.db")
    store.replace_source("rest:x", [sys_("a"), sys_("b")])
    before = (store.systems(), store.version, store.updated_at("rest:x"))
    unchecked = BusinessSystem.model_construct(**{**sys_("z").model_dump(), "tier": 9})
    with pytest.raises(CmdbError, match="refuses"):
        store.replace_source("rest:x", [sys_("c"), sys_("d"), unchecked])
    assert (store.systems(), store.version, store.updated_at("rest:x")) == before
    other = CmdbStore(tmp_path / "cmdb.db")  # and what another connection sees
    assert other.systems() == before[0]
    other.close()
    store.close()


def test_store_precedence_import_then_newest(tmp_path):
    clock = iter(f"2026-11-29T10:00:0{i}+00:00" for i in range(10))
    from datetime import datetime
    store = CmdbStore(tmp_path / "cmdb.db", clock=lambda: datetime.fromisoformat(next(clock)))
    store.replace_source("import:a.csv", [sys_("x", name="from import")])
    store.replace_source("rest:cmdb", [sys_("x", name="from rest"), sys_("y", name="rest y")])
    store.replace_source("rest:other", [sys_("y", name="newer y")])
    assert store.get("x").name == "from import"  # an import wins even when older
    assert store.get("y").name == "newer y"  # else the newest source
    assert [c.source for c in store.definitions("x")] == ["import:a.csv", "rest:cmdb"]
    assert [s.id for s in store.systems()] == ["x", "y"]  # one per id


def test_store_version_seen_by_another_connection(tmp_path):
    a, b = CmdbStore(tmp_path / "cmdb.db"), CmdbStore(tmp_path / "cmdb.db")
    v = b.version
    a.replace_source("import:f", [sys_("a")])
    assert b.version == v + 1 and [s.id for s in b.systems()] == ["a"]
    a.close()
    b.close()


def test_store_is_thread_safe(tmp_path):
    store = CmdbStore(tmp_path / "cmdb.db")
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(20):
                store.replace_source(f"rest:{n}", [sys_(f"{n}-{j}") for j in range(i % 5 + 1)])
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    def reader() -> None:
        try:
            for _ in range(40):
                ids = [s.id for s in store.systems()]
                assert len(ids) == len(set(ids))
        except BaseException as err:  # pragma: no cover
            errors.append(err)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(3)] + [threading.Thread(target=reader)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(s.id for s in store.systems()) == sorted(f"{n}-{j}" for n in range(3) for j in range(5))
    store.close()


printable_or_not = st.text(alphabet=st.one_of(st.characters(), st.sampled_from(list("风控核心\x1b\u202e\r\n\t;|,"))),
                           min_size=1, max_size=40)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(printable_or_not)
@example("\x1b[2J风控\u202e")
@example("  a\r\nb  ")
def test_any_name_survives_the_store_unchanged_after_sanitising(tmp_path, text):
    expected = clean(text.strip())
    if not expected:
        with pytest.raises(CmdbError, match="name: required"):
            from_record({"id": "x", "name": text})
        return
    system = from_record({"id": "x", "name": text, "owner": text}, source="rest:x")
    assert system.name == expected == clean(expected)
    store = CmdbStore(tmp_path / "prop.db")
    try:
        store.replace_source("rest:x", [system])
        got = store.get("x")
        assert got.name == expected and got.owner == expected and got == system
    finally:
        store.close()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1,
               max_size=30))
@example('风控, "核心"\n系统')
def test_any_name_survives_a_csv_file(tmp_path, name):
    import csv
    import io
    expected = clean(name.strip())
    buf = io.StringIO()
    csv.writer(buf).writerows([["id", "name"], ["x", name]])
    p = tmp_path / "prop.csv"
    p.write_text(buf.getvalue(), encoding="utf-8", newline="")
    if not expected:
        with pytest.raises(CmdbError):
            parse_file(p)
        return
    assert parse_file(p)[0].name == expected


# ------------------------------------------------------------------------------------------ matching
RISK = sys_("risk-core", "风控核心系统", tier=1, namespaces=("ns-risk-core", "ns-risk-limit*"), labels=("team=risk",))
FRAUD = sys_("fraud", "反欺诈评分", tier=2, segments=("fraud", "risk-scorecard"), labels=("team=fraud", "app=fraud-*"),
             deployments=("fraud-xgb*", "ns-online/scorer"), nodes=("gpu-node-7",))
PLATFORM = sys_("gpu-platform", "GPU 平台", nodes=("gpu-node-*", "10.0.0.9"))
ALL = [PLATFORM, FRAUD, RISK]


def rules(matches) -> list[tuple[str, str]]:
    return [(m.system.id, m.rule) for m in matches]


def test_each_rule():
    assert rules(match(ALL, namespace="ns-risk-limit-v2")) == [("risk-core", "namespace ns-risk-limit*")]
    assert rules(match(ALL, namespace="ns-fraud-online")) == [("fraud", "segment fraud")]
    assert rules(match(ALL, namespace="ns-risk-scorecard")) == [("fraud", "segment risk-scorecard")]
    assert rules(match(ALL, deployment="fraud-xgb-v3")) == [("fraud", "deployment fraud-xgb*")]
    assert rules(match(ALL, namespace="ns-online", deployment="scorer")) == [("fraud", "deployment ns-online/scorer")]
    assert match(ALL, deployment="scorer") == []  # namespace/name needs the namespace
    assert rules(match(ALL, labels={"team": "risk"})) == [("risk-core", "label team=risk")]
    assert rules(match(ALL, labels={"app": "fraud-lgbm"})) == [("fraud", "label app=fraud-*")]
    assert rules(match([sys_("w", labels=("*/team=risk",))], labels={"webank.com/team": "risk"})) == [
        ("w", "label */team=risk")]
    assert rules(match(ALL, node="10.0.0.9")) == [("gpu-platform", "node 10.0.0.9")]
    assert [m.kind for m in match(ALL, node="gpu-node-7")] == ["node", "node"]


def test_segments_need_the_prophecis_namespace_pattern():
    assert namespace_parts("ns-risk-credit-limit") == ("risk", "credit-limit")
    assert namespace_parts("ns-risk") is None and namespace_parts("default") is None
    s = sys_("s", segments=("risk", "ns"))
    assert match([s], namespace="ns-risk") == [] and match([s], namespace="kube-system") == []
    assert match([s], namespace="ns-riskier-app") == []  # the department is a whole part
    assert rules(match([s], namespace="NS-RISK-App")) == [("s", "segment risk")]  # case-insensitive


def test_one_match_per_system_with_its_strongest_rule_and_order():
    out = match(ALL, namespace="ns-fraud-x", labels={"team": "risk", "app": "fraud-1"}, deployment="fraud-xgb",
                node="gpu-node-7")
    assert rules(out) == [("fraud", "deployment fraud-xgb*"), ("risk-core", "label team=risk"),
                          ("gpu-platform", "node gpu-node-*")]
    # equal rules: tier first (none last), then id
    a, b, c = sys_("b", tier=2, segments=("x",)), sys_("a", segments=("x",)), sys_("c", tier=1, segments=("x",))
    assert [m.system.id for m in match([a, b, c], namespace="ns-x-y")] == ["c", "b", "a"]


def test_node_level_target_maps_to_every_system_with_pods_there():
    out = match(ALL, node="gpu-node-3", node_namespaces={"ns-risk-limit-a", "ns-risk-core", "ns-risk-limit-b",
                                                         "ns-fraud-x", "kube-system"})
    assert rules(out) == [("gpu-platform", "node gpu-node-*"),
                          ("risk-core", "node gpu-node-3 runs pods of ns-risk-core, ns-risk-limit-a and 1 more"),
                          ("fraud", "node gpu-node-3 runs pods of ns-fraud-x")]
    # with the target's own namespace it is not node-level: the node's other tenants do not count
    assert rules(match(ALL, namespace="ns-fraud-x", node="gpu-node-3", node_namespaces={"ns-risk-core"})) == [
        ("fraud", "segment fraud"), ("gpu-platform", "node gpu-node-*")]


def test_untagged_and_cjk():
    assert match(ALL, namespace="ns-hr-payroll", labels={"team": "hr"}, node="cpu-1") == []
    assert match([], namespace="ns-risk-core") == []
    cjk = sys_("支付", "支付网关系统", labels=("团队=支付",))  # a label entry is kept as written
    assert [(m.system.name, m.rule) for m in match([cjk], labels={"团队": "支付"})] == [("支付网关系统", "label 团队=支付")]


def test_matcher_caches_per_namespace_and_agrees_with_match():
    m = Matcher(ALL)
    first = m.for_namespace("ns-risk-core")
    assert first == m.for_namespace("ns-risk-core") == match(ALL, namespace="ns-risk-core")
    assert rules(first) == [("risk-core", "namespace ns-risk-core")]
    first.clear()  # a caller's copy: the cache is not touched
    assert m.for_namespace("ns-risk-core")
    assert m.for_namespace("default") == []
