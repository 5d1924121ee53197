"""`prophecis-tui cmdb`: import all or nothing (a bad file changes nothing, problems by row and field on stderr),
list (aligned with CJK names), show, match with each target form, sources, remove; headless (no Textual)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest

from prophecis_tui.cli import cmdb_target, main, CliError
from prophecis_tui.store import CMDB_FILE, CmdbStore

GOOD = """id,name,tier,department,owner,oncall,namespaces,segments,labels,deployments,nodes
risk-core,风控核心系统,1,风险管理部,张三,13800000000,ns-risk-core;ns-risk-limit*,,team=risk,,
fraud,反欺诈评分,2,fraud,李四,,,fraud|risk-scorecard,team=fraud,fraud-xgb*,gpu-node-7
mkt,Marketing recommendations,,marketing,ops,,,marketing,,,
"""


@pytest.fixture
def data(tmp_path, monkeypatch):
    """A fresh XDG data dir; the CMDB database path in it."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "prophecis-tui" / CMDB_FILE


def cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["cmdb", *args])
    out, err = capsys.readouterr()
    return code, out, err


def write(tmp_path, name: str, text: str):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def snapshot(db) -> tuple:
    store = CmdbStore(db)
    try:
        return store.systems(), store.version, store.sources()
    finally:
        store.close()


def test_import_list_show(tmp_path, data, capsys):
    code, out, err = cli(capsys, "import", str(write(tmp_path, "cmdb.csv", GOOD)))
    assert code == 0 and "imported 3 business systems" in out and "import:cmdb.csv" in out and not err
    assert stat.S_IMODE(os.stat(data).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(data.parent).st_mode) == 0o700

    code, out, err = cli(capsys, "list")
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == ["TIER", "ID", "NAME", "DEPARTMENT", "OWNER", "ON-CALL", "SOURCE"]
    assert [ln.split()[1] for ln in lines[1:]] == ["risk-core", "fraud", "mkt"]  # by tier, none last
    # aligned in terminal cells: the DEPARTMENT column starts at the same cell on every line (CJK is 2 wide)
    from rich.cells import cell_len
    starts = {cell_len(ln[:ln.rindex(word)]) for ln, word in zip(lines, ["DEPARTMENT", "风险管理部", "fraud",
                                                                        "marketing"])}
    assert len(starts) == 1, out
    assert all(ln == ln.rstrip() for ln in lines)

    code, out, _ = cli(capsys, "list", "--json")
    assert [s["name"] for s in json.loads(out)] == ["风控核心系统", "反欺诈评分", "Marketing recommendations"]

    code, out, _ = cli(capsys, "show", "fraud")
    assert code == 0 and "name:        反欺诈评分" in out and "segments:    fraud, risk-scorecard" in out
    code, out, _ = cli(capsys, "show", "risk-core", "--json")
    assert json.loads(out)["namespaces"] == ["ns-risk-core", "ns-risk-limit*"] and json.loads(out)["shadowed"] == []
    code, out, err = cli(capsys, "show", "nope")
    assert code == 1 and "no business system with id 'nope'" in err and not out


BAD = {
    "missing id": ("bad.csv", "id,name\nok,OK\n,无名\n", 'row 2 (line 3): id: required'),
    "bad tier": ("bad.csv", "id,name,tier\nrisk-core,风控,high\n",
                 'row 1 (line 2, id "risk-core"): tier: must be a whole number 1-5, got "high"'),
    "duplicate id": ("bad.json", '[{"id": "a", "name": "A"}, {"id": "a", "name": "B"}]',
                     'row 2 (id "a"): id: duplicate, also row 1'),
    "unknown field": ("bad.yaml", "- id: a\n  name: A\n  onwer: me\n",
                      'row 1 (id "a"): unknown field "onwer" (did you mean "owner"?)'),
    "bad label": ("bad.csv", "id,name,labels\na,A,team\n", 'row 1 (line 2, id "a"): labels: "team": must be key=value'),
    "malformed YAML": ("bad.yaml", "- id: a\n  name: [x\n", "not valid YAML: line 3"),
    "malformed JSON": ("bad.json", '[{"id": "a",}]', "not valid JSON: line 1 column 13"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_import_changes_nothing(tmp_path, data, capsys, case):
    assert cli(capsys, "import", str(write(tmp_path, "cmdb.csv", GOOD)))[0] == 0
    name, text, expected = BAD[case]
    bad = write(tmp_path, name, text)
    before = snapshot(data)
    code, out, err = cli(capsys, "import", str(bad))
    assert code == 1 and not out
    assert f"prophecis-tui: {bad}: {expected}" in err, err
    assert err.splitlines()[-1].startswith(f"prophecis-tui: {bad}: nothing imported")
    assert snapshot(data) == before
    # the same file under the source of the good one (a replace) changes nothing either
    code, _, _ = cli(capsys, "import", str(bad), "--source", "import:cmdb.csv")
    assert code == 1 and snapshot(data) == before


def test_a_bad_first_import_creates_no_database(tmp_path, data, capsys):
    code, _, err = cli(capsys, "import", str(write(tmp_path, "x.csv", "id,name,tier\na,A,0\n")))
    assert code == 1 and "tier" in err and not data.exists()


def test_check_validates_without_importing(tmp_path, data, capsys):
    code, out, _ = cli(capsys, "import", "--check", str(write(tmp_path, "cmdb.csv", GOOD)))
    assert code == 0 and "3 business systems, valid" in out and not data.exists()


def test_reimport_replaces_the_source_and_sources_remove(tmp_path, data, capsys):
    f = write(tmp_path, "cmdb.csv", GOOD)
    cli(capsys, "import", str(f))
    f.write_text("id,name\nfraud,反欺诈评分 v2\n", encoding="utf-8")
    assert cli(capsys, "import", str(f))[0] == 0
    other = write(tmp_path, "extra.yaml", "- {id: pay, name: 支付网关}\n")
    assert cli(capsys, "import", str(other))[0] == 0
    code, out, _ = cli(capsys, "list", "--json")
    assert [(s["id"], s["name"], s["source"]) for s in json.loads(out)] == [
        ("fraud", "反欺诈评分 v2", "import:cmdb.csv"), ("pay", "支付网关", "import:extra.yaml")]
    code, out, _ = cli(capsys, "sources")
    assert [ln.split()[:2] for ln in out.splitlines()] == [["SOURCE", "SYSTEMS"], ["import:cmdb.csv", "1"],
                                                           ["import:extra.yaml", "1"]]
    code, out, _ = cli(capsys, "remove", "import:extra.yaml")
    assert code == 0 and "removed 1 business system of import:extra.yaml" in out
    code, _, err = cli(capsys, "remove", "import:extra.yaml")
    assert code == 1 and "no CMDB source" in err
    assert [x["source"] for x in json.loads(cli(capsys, "sources", "--json")[1])] == ["import:cmdb.csv"]


def test_shadowed_ids_are_reported(tmp_path, data, capsys):
    store = CmdbStore(data)
    from prophecis_tui.domain import BusinessSystem
    store.replace_source("rest:cmdb.example", [BusinessSystem(id="fraud", name="REST 反欺诈")])
    store.close()
    cli(capsys, "import", str(write(tmp_path, "cmdb.csv", GOOD)))
    code, out, _ = cli(capsys, "show", "fraud")
    assert "source:      import:cmdb.csv" in out
    assert "shadowed:    rest:cmdb.example has the same id (name 'REST 反欺诈'); import:cmdb.csv wins" in out
    data_show = json.loads(cli(capsys, "show", "fraud", "--json")[1])
    assert [c["source"] for c in data_show["shadowed"]] == ["rest:cmdb.example"]


@pytest.mark.parametrize("args,expected", [
    (["ns/ns-risk-limit-a"], [("risk-core", "namespace ns-risk-limit*")]),
    (["ns-fraud-online"], [("fraud", "segment fraud")]),
    (["deploy/ns-x-y/fraud-xgb-v3"], [("fraud", "deployment fraud-xgb*")]),
    (["deploy/fraud-xgb-v3"], [("fraud", "deployment fraud-xgb*")]),
    (["label/team=risk"], [("risk-core", "label team=risk")]),
    (["node/gpu-node-7"], [("fraud", "node gpu-node-7")]),
    (["node/gpu-node-2", "--node-namespaces", "ns-risk-core,ns-marketing-ads"],
     [("risk-core", "node gpu-node-2 runs pods of ns-risk-core"),
      ("mkt", "node gpu-node-2 runs pods of ns-marketing-ads")]),
    (["ns/ns-marketing-ads", "--label", "team=risk", "--node", "gpu-node-7"],
     [("risk-core", "label team=risk"), ("mkt", "segment marketing"), ("fraud", "node gpu-node-7")]),
])
def test_match_targets(tmp_path, data, capsys, args, expected):
    cli(capsys, "import", str(write(tmp_path, "cmdb.csv", GOOD)))
    code, out, _ = cli(capsys, "match", *args, "--json")
    doc = json.loads(out)
    assert code == 0 and doc["untagged"] is False
    assert [(m["system"]["id"], m["rule"]) for m in doc["matches"]] == expected
    code, out, _ = cli(capsys, "match", *args)
    assert code == 0 and out.splitlines()[0].split()[:4] == ["TIER", "ID", "NAME", "RULE"]
    assert [ln.split()[1] for ln in out.splitlines()[1:]] == [e[0] for e in expected]


def test_match_untagged_exits_1(tmp_path, data, capsys):
    code, out, _ = cli(capsys, "match", "ns/ns-hr-payroll")  # no database yet: untagged too
    assert code == 1 and out.strip() == "untagged: no business system owns namespace ns-hr-payroll"
    cli(capsys, "import", str(write(tmp_path, "cmdb.csv", GOOD)))
    code, out, _ = cli(capsys, "match", "node/cpu-1", "--json")
    assert code == 1 and json.loads(out) == {"target": "node/cpu-1", "untagged": True, "matches": []}


@pytest.mark.parametrize("target", ["foo/bar", "ns/", "deploy/a/b/c", "label/team", "node/a/b"])
def test_bad_targets_are_usage_errors(target):
    with pytest.raises(CliError) as err:
        cmdb_target(target)
    assert err.value.code == 2


def test_bad_target_one_line_exit_2(data, capsys):
    code, out, err = cli(capsys, "match", "pod/x")
    assert code == 2 and not out and len(err.strip().splitlines()) == 1


def test_empty_store(data, capsys):
    code, out, err = cli(capsys, "list")
    assert code == 0 and not out and "cmdb import" in err
    assert cli(capsys, "list", "--json")[1].strip() == "[]"
    assert not data.exists()  # reading creates nothing


def test_db_option_and_help(tmp_path, data, capsys):
    db = tmp_path / "elsewhere.db"
    assert cli(capsys, "import", "--db", str(db), str(write(tmp_path, "cmdb.csv", GOOD)))[0] == 0
    assert db.exists() and not data.exists()
    assert len(json.loads(cli(capsys, "list", "--db", str(db), "--json")[1])) == 3
    with pytest.raises(SystemExit) as leave:
        main(["cmdb", "match", "--help"])
    assert leave.value.code == 0
    out = capsys.readouterr().out
    assert "deploy/NS/NAME" in out and "label/K=V" in out and "strongest first" in out
    from prophecis_tui.cli import EPILOG
    assert "cmdb import FILE" in EPILOG and "match TARGET" in EPILOG


def test_cmdb_is_headless(tmp_path):
    """A subprocess with its own XDG dir: the CLI end to end, and Textual never loaded."""
    f = write(tmp_path, "cmdb.csv", GOOD)
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "xdg")}
    code = ("import sys; from prophecis_tui.cli import main; "
            f"rc = main(['cmdb', 'import', {str(f)!r}]) + main(['cmdb', 'match', 'ns-risk-core']); "
            "print('textual' in sys.modules, rc)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines()[-1] == "False 0" and "风控核心系统" in p.stdout
