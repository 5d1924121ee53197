"""The CMDB core: business systems read from files and records, and what an object or alert belongs to.

Pure: no I/O except reading the file given to :func:`parse_file`; no Textual. The store is
``prophecis_tui.store.CmdbStore``; the REST source reuses :func:`from_record` / :func:`from_records`.

The file format (``prophecis-tui cmdb import FILE``)
=====================================================

One record per business system, as CSV (a header row, then one row per system; ``.tsv``: tab
separated), JSON (a list of objects, or ``{"systems": [...]}``) or YAML (the same shapes). The
format comes from the file's extension (``.csv .tsv .json .yaml .yml``), else it is sniffed: a
file starting with ``[`` or ``{`` is JSON, one whose first line starts with ``-`` or reads
``key:`` is YAML, anything else CSV. Text is UTF-8 (a BOM is fine); a file that is not UTF-8 is
read as GB18030, which is what a Chinese Excel saves.

Fields (names are case-insensitive; ``-`` and blanks count as ``_``):

=============  ===============================================================================
id             required, unique in the file: the CMDB's system code (``risk-core``, ``RC001``)
name           required: the system's name, often Chinese (``反欺诈评分``), kept exactly
tier           optional whole number 1-5, 1 the most critical (``2``, ``T2`` and ``tier 2`` read
               as 2); alias ``criticality``
department     optional text
owner          optional text
oncall         optional text (on-call contact); aliases ``on_call``, ``on-call``
namespaces     namespace names or shell patterns: ``ns-risk-scorecard``, ``ns-risk-*``
segments       parts of a Prophecis namespace ``ns-<department>-<app>``: ``risk`` (every
               ``ns-risk-...``) or ``risk-scorecard`` (``ns-risk-scorecard``); patterns allowed
labels         ``key=value`` pairs on the object or alert (``team=fraud``; the value may be a
               pattern: ``app=fraud-*``); in JSON/YAML also an object ``{"team": "fraud"}``
deployments    model deployment (SeldonDeployment) names or patterns (``fraud-xgb*``), or
               ``namespace/name`` to own it in one namespace only
nodes          node hostnames or IPs, or patterns (``gpu-node-1*``)
source         ignored (``cmdb list --json`` writes it; the store sets it)
=============  ===============================================================================

Singular names (``namespace``, ``label``, ...) are accepted for the list fields. Any other field
is an error naming it (typo protection), as is a field given twice.

List fields: a JSON/YAML list, or one text with the entries separated by ``;`` or ``|`` (also
the full-width ``；`` ``｜`` and line breaks): ``ns-risk-*;ns-fraud-*``. A comma inside an entry
is an error, not a separator: ``ns-a,ns-b`` would silently never match. Namespace, segment,
deployment and node entries are lower-cased (Kubernetes names are); labels are kept as written.

Every text is stripped and sanitised (``prophecis_tui.sanitize.clean``: control, escape and
invisible characters become visible escapes), so nothing from a file can drive the terminal.

Errors name the row (1-based, and for CSV the line in the file), the system's id when it could
be read, and the field: ``row 3 (line 4, id "risk-core"): tier: must be a whole number 1-5,
got "high"``. Every problem is reported at once; an import with any problem imports nothing.

Matching
========

:class:`Matcher` (and the one-off :func:`match`) resolves an object or alert to zero, one or
several business systems, each once, with the rule that matched as text. Rules, strongest first
(a system matched by several shows its strongest):

1. ``namespace ns-risk-*``: an explicit namespace name or pattern;
2. ``deployment fraud-xgb*``: the deployment's name (or ``namespace/name``);
3. ``label team=fraud``: one of the object's labels;
4. ``segment risk``: the namespace's ``ns-<dept>-<app>`` parts (other namespaces: no segment rule);
5. ``node gpu-node-7``: the node the object runs on is the system's;
6. ``node gpu-node-7 runs pods of ns-risk-limit``: a node-level target (a node, no namespace)
   maps to every system owning a namespace with pods on that node (``node_namespaces``).

No match means "untagged" (:data:`UNTAGGED`); the caller shows it, never drops it.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
import re
from dataclasses import dataclass
from fnmatch import translate
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import yaml

from .domain import BusinessSystem, Invalid
from .sanitize import clean, clean_line

__all__ = [
    "FIELDS", "LIST_FIELDS", "RULE_KINDS", "TIER_MAX", "TIER_MIN", "UNTAGGED", "CmdbError", "Match", "Matcher",
    "from_record", "from_records", "match", "namespace_parts", "parse_file", "parse_text",
]

TIER_MIN, TIER_MAX = 1, 5
FIELDS = ("id", "name", "tier", "department", "owner", "oncall", "namespaces", "segments", "labels",
          "deployments", "nodes")
TEXT_FIELDS = ("id", "name", "department", "owner", "oncall")
LIST_FIELDS = ("namespaces", "segments", "labels", "deployments", "nodes")
ALIASES = {"on_call": "oncall", "criticality": "tier", "namespace": "namespaces", "segment": "segments",
           "label": "labels", "deployment": "deployments", "node": "nodes"}
IGNORED = frozenset({"source"})
RULE_KINDS = ("namespace", "deployment", "label", "segment", "node", "node-pods")  # strongest first
UNTAGGED = "untagged"
MAX_TEXT = 500  # characters in one text field or list entry
MAX_FILE = 64 * 1024 * 1024
MAX_PROBLEMS = 200  # collected before giving up on a file


class CmdbError(Invalid):
    """CMDB data that cannot be used. ``problems`` holds every problem, one line each (``row 3 (line 4, id
    "risk-core"): tier: must be ...``); ``str()`` is the first, and how many more there are."""

    def __init__(self, problems: str | Iterable[str], *, source: str = "") -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems) or ["invalid CMDB data"]
        more = len(self.problems) - 1
        message = self.problems[0] + (f" (and {more} more problem{'s' if more > 1 else ''})" if more else "")
        super().__init__(message, source=source)


class _Bad(ValueError):
    """One field's problem (the message, without the field)."""


# ------------------------------------------------------------------------------------------ values
def _show(value: Any) -> str:
    """A value quoted for an error message: one safe line, short."""
    if isinstance(value, str):
        return '"' + clean_line(value, 60) + '"'
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, (int, float)):
        return str(value)
    return f"a {_kind(value)}"


def _kind(value: Any) -> str:
    if isinstance(value, Mapping):
        return "mapping"
    if isinstance(value, (list, tuple)):
        return "list"
    return type(value).__name__


def _text(value: Any) -> str:
    """Stripped, sanitised one-line text; numbers (an id ``1001`` in JSON) become their text."""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise _Bad(f"must be text, got {_show(value)}")
    out = clean(str(value).strip())
    if len(out) > MAX_TEXT:
        raise _Bad(f"longer than {MAX_TEXT} characters")
    return out


_TIER = re.compile(r"(?:t|tier|l|level)?[\s_-]*(\d{1,3})", re.IGNORECASE)


def _tier(value: Any) -> int | None:
    bad = _Bad(f"must be a whole number {TIER_MIN}-{TIER_MAX}, got {_show(value)}")
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise bad
    if isinstance(value, int):
        n = value
    elif isinstance(value, float) and value.is_integer():
        n = int(value)
    elif isinstance(value, str) and (m := _TIER.fullmatch(value.strip())):
        n = int(m[1])
    else:
        raise bad
    if not TIER_MIN <= n <= TIER_MAX:
        raise bad
    return n


_SEP = re.compile(r"[;|\n\r\uff1b\uff5c]")
_NOT_A_SEP = re.compile(r"[\s,\uff0c\u3001]")  # blanks and (full-width) commas inside one entry
_NAME_RE = re.compile(r"[a-z0-9.\-_*?\[\]!]+")  # a Kubernetes-ish name or shell pattern, lower-cased
_NODE_RE = re.compile(r"[a-z0-9.\-_:*?\[\]!]+")  # hostnames and IPv4/IPv6 addresses
_LABEL_RE = re.compile(r"([A-Za-z0-9._/\-]+)=([A-Za-z0-9._\-*?\[\]!]*)")


def _entries(value: Any) -> list[str]:
    """The entries of a list field: a list, or a text separated by ; | (full-width too) or line breaks."""
    if value is None:
        return []
    if isinstance(value, str):
        items: Iterable[Any] = _SEP.split(value)
    elif isinstance(value, (list, tuple)):
        items = value
    else:
        raise _Bad(f'must be a list, or entries separated by ";" or "|", got {_show(value)}')
    out = []
    for item in items:
        if item is None:
            continue
        if isinstance(item, bool) or not isinstance(item, (str, int, float)):
            raise _Bad(f"entries must be text, got {_show(item)}")
        text = clean(str(item).strip())
        if not text:
            continue
        if len(text) > MAX_TEXT:
            raise _Bad(f"an entry is longer than {MAX_TEXT} characters")
        out.append(text)
    return out


def _check_entry(field: str, entry: str) -> str:
    if _NOT_A_SEP.search(entry):
        raise _Bad(f'{_show(entry)}: one entry per item; separate entries with ";" or "|"')
    if field == "labels":
        if not _LABEL_RE.fullmatch(entry):
            raise _Bad(f"{_show(entry)}: must be key=value (a label key, \"=\", and a value or pattern)")
        return entry
    low = entry.lower()
    if field == "segments":
        if low.startswith("ns-"):
            raise _Bad(f'{_show(entry)}: a segment is the part after "ns-" ("risk" or "risk-scorecard")')
        if low.startswith("-") or low.endswith("-") or "--" in low or "/" in low:
            raise _Bad(f'{_show(entry)}: must be <department> or <department>-<app>')
    if field == "deployments":
        parts = low.split("/")
        if len(parts) > 2 or not all(parts) or not all(_NAME_RE.fullmatch(p) for p in parts):
            raise _Bad(f"{_show(entry)}: must be a deployment name or pattern, or namespace/name")
        return low
    pattern = _NODE_RE if field == "nodes" else _NAME_RE
    if not pattern.fullmatch(low):
        what = {"nodes": "a node hostname, IP or pattern", "segments": "<department> or <department>-<app>"}
        raise _Bad(f"{_show(entry)}: must be {what.get(field, 'a namespace name or pattern')}")
    return low


def _list(field: str, value: Any) -> tuple[str, ...]:
    if field == "labels" and isinstance(value, Mapping):  # {"team": "fraud"} in JSON/YAML
        value = [f"{k}={'' if v is None else v}" for k, v in value.items()]
    out: list[str] = []
    for entry in _entries(value):
        entry = _check_entry(field, entry)
        if entry not in out:
            out.append(entry)
    return tuple(out)


def _norm(key: Any) -> str:
    return re.sub(r"[\s\-]+", "_", str(key).strip().lower())


def _unknown(key: Any, known: Iterable[str]) -> str:
    name = clean_line(str(key), 60)
    close = difflib.get_close_matches(_norm(key), list(known), n=1, cutoff=0.6)
    hint = f' (did you mean "{close[0]}"?)' if close else f" (known: {', '.join(FIELDS)})"
    return f'unknown field "{name}"{hint}'


def _lookup(record: Mapping[str, Any], key: str) -> tuple[bool, Any]:
    """``record[key]``, or a dotted path into nested objects (``contact.owner``): (found, value)."""
    if key in record:
        return True, record[key]
    if "." not in key:
        return False, None
    node: Any = record
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _check_mapping(mapping: Mapping[str, str] | None) -> None:
    if not mapping:
        return
    bad = [k for k in mapping if k not in FIELDS]
    if bad:
        raise CmdbError(f'mapping: unknown field{"s" if len(bad) > 1 else ""} '
                        f'{", ".join(_show(k) for k in bad)}; ours are {", ".join(FIELDS)}')
    wrong = [k for k, v in mapping.items() if not isinstance(v, str) or not v]
    if wrong:
        raise CmdbError(f"mapping: {', '.join(wrong)}: must name a field of the record")


def _build(record: Any, mapping: Mapping[str, str] | None, source: str,
           strict: bool) -> tuple[BusinessSystem | None, list[tuple[str, str]], str]:
    """The system of one record, its problems as (field, message), and its id as read (for messages)."""
    if not isinstance(record, Mapping):
        return None, [("", f"must be an object with fields, got {_show(record)}")], ""
    values: dict[str, Any] = {}
    problems: list[tuple[str, str]] = []
    where: dict[str, str] = {}  # our field -> the record's field it was read from, when renamed
    if mapping:
        for ours in FIELDS:
            theirs = mapping.get(ours, ours)
            found, value = _lookup(record, theirs)
            if found:
                values[ours] = value
            if theirs != ours:
                where[ours] = theirs
    else:
        given: dict[str, Any] = {}
        unknown = []
        for key, value in record.items():
            canon = ALIASES.get(_norm(key), _norm(key))
            if canon in IGNORED:
                continue
            if canon not in FIELDS:
                unknown.append(key)
                continue
            if canon in given:
                problems.append((canon, f"given twice (as {_show(given[canon])} and {_show(key)})"))
                continue
            given[canon] = key
            values[canon] = value
        if strict:
            problems += [("", _unknown(k, FIELDS)) for k in unknown]
    raw_id = values.get("id")
    shown_id = clean_line(str(raw_id).strip(), 60) if isinstance(raw_id, (str, int)) and not isinstance(
        raw_id, bool) else ""
    out: dict[str, Any] = {}
    for field in FIELDS:
        value = values.get(field)
        try:
            if field == "tier":
                out[field] = _tier(value)
            elif field in LIST_FIELDS:
                out[field] = _list(field, value)
            else:
                out[field] = _text(value)
                if field in ("id", "name") and not out[field]:
                    frm = f" (read from {_show(where[field])})" if field in where else ""
                    raise _Bad("required" + frm)
        except _Bad as err:
            problems.append((field, str(err)))
    if problems:
        return None, problems, shown_id
    return BusinessSystem(source=source, **out), [], shown_id


def from_record(record: Mapping[str, Any], mapping: Mapping[str, str] | None = None, source: str = "", *,
                strict: bool = False) -> BusinessSystem:
    """One business system from an external record (a dict from a JSON API or a file row).

    ``mapping`` maps our field names (:data:`FIELDS`) to the record's: ``{"id": "sys_code", "name":
    "sys_name", "tier": "level", "oncall": "contact.duty"}``; a dotted name reads into nested objects;
    fields it leaves out are read under our own names. List fields accept a JSON list or one text
    separated by ``;`` or ``|``; labels also an object. Without a mapping our names and aliases are read
    and, with ``strict`` (file import), any other field is an error; with a mapping, or not strict, other
    fields are ignored (a CMDB API returns dozens). Texts are sanitised. ``source`` is set on the result.

    Raises :class:`CmdbError` whose problems read ``tier: must be a whole number 1-5, got "high"``.
    """
    _check_mapping(mapping)
    system, problems, _ = _build(record, mapping, source, strict)
    if system is None:
        raise CmdbError([f"{f}: {m}" if f else m for f, m in problems], source=source)
    return system


def _where(row: int, line: int | None, shown_id: str) -> str:
    inner = ", ".join(x for x in (f"line {line}" if line else "", f'id "{shown_id}"' if shown_id else "") if x)
    return f"row {row}" + (f" ({inner})" if inner else "")


def from_records(records: Iterable[Any], mapping: Mapping[str, str] | None = None, source: str = "", *,
                 strict: bool = False, lines: list[int] | None = None) -> list[BusinessSystem]:
    """Every record as a business system, or :class:`CmdbError` listing every problem, each naming its row
    (1-based; ``lines[i]``, when given, is row i+1's line in the file) and field. Ids must be unique."""
    _check_mapping(mapping)
    systems: list[BusinessSystem] = []
    problems: list[str] = []
    first: dict[str, int] = {}
    for i, record in enumerate(records):
        row = i + 1
        system, probs, shown_id = _build(record, mapping, source, strict)
        where = _where(row, lines[i] if lines and i < len(lines) else None, shown_id)
        problems += [f"{where}: {f}: {m}" if f else f"{where}: {m}" for f, m in probs]
        if system is not None:
            if system.id in first:
                problems.append(f'{where}: id: duplicate, also row {first[system.id]}')
            else:
                first[system.id] = row
                systems.append(system)
        if len(problems) >= MAX_PROBLEMS:
            problems.append("too many problems; stopped reading")
            break
    if problems:
        raise CmdbError(problems, source=source)
    return systems


# ------------------------------------------------------------------------------------------ files
class _StringLoader(yaml.SafeLoader):
    """Safe YAML where every scalar stays text (``id: 012`` is "012", ``name: no`` is "no"), except null;
    a key given twice in one mapping is an error instead of the last one silently winning."""

    def construct_mapping(self, node: Any, deep: bool = False) -> dict:  # type: ignore[override]
        seen: set = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, str) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f'field "{clean_line(key, 40)}" given twice', key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_StringLoader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag == "tag:yaml.org,2002:null"]
    for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            return data.decode("gb18030")
        except UnicodeDecodeError:
            raise CmdbError("not UTF-8 (or GB18030) text") from None


def _sniff(name: str, text: str) -> str:
    suffix = Path(name).suffix.lower()
    fmt = {".csv": "csv", ".tsv": "tsv", ".json": "json", ".yaml": "yaml", ".yml": "yaml"}.get(suffix)
    if fmt:
        return fmt
    body = text.lstrip()
    if body.startswith(("[", "{")):
        return "json"
    first = next((ln.strip() for ln in body.splitlines() if ln.strip() and not ln.startswith("#")), "")
    if first.startswith("-") or re.match(r"[^,\t\"]+:(\s|$)", first):
        return "yaml"
    return "tsv" if "\t" in first and "," not in first else "csv"


def _json_pairs(pairs: list[tuple[str, Any]]) -> dict:
    out: dict = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f'field "{clean_line(k, 40)}" given twice')
        out[k] = v
    return out


def _records_of(data: Any, fmt: str) -> list[Any]:
    if isinstance(data, Mapping) and "systems" in data:
        others = [k for k in data if k != "systems"]
        if others:
            raise CmdbError(f"top level: unknown field {_show(others[0])} beside \"systems\"")
        data = data["systems"]
    if data is None:
        data = []
    if not isinstance(data, list):
        raise CmdbError(f'top level: must be a list of systems (or {{"systems": [...]}}), got {_show(data)}')
    return data


def _csv_records(text: str, delimiter: str) -> tuple[list[dict], list[int]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header: list[str] | None = None
    records: list[dict] = []
    lines: list[int] = []
    problems: list[str] = []
    start = 1
    try:
        for cells in reader:
            line, start = start, reader.line_num + 1
            if not any(c.strip() for c in cells):
                continue  # a blank line
            if header is None:
                header = [_norm(c) for c in cells]
                canon = [ALIASES.get(h, h) for h in header]
                seen: dict[str, int] = {}
                for col, (raw, name) in enumerate(zip(cells, canon), 1):
                    if not name or name in IGNORED:
                        continue
                    if name not in FIELDS:
                        problems.append(f"line {line} (header): column {col}: {_unknown(raw, FIELDS)}")
                    elif name in seen:
                        problems.append(f"line {line} (header): column {col}: {_show(raw.strip())} repeats "
                                        f"column {seen[name]}")
                    else:
                        seen[name] = col
                missing = [f for f in ("id", "name") if f not in seen]
                if missing:
                    problems.append(f"line {line} (header): no {' or '.join(repr(m) for m in missing)} column "
                                    f"(a CSV file starts with a header row naming its columns: id,name,tier,...)")
                if problems:
                    raise CmdbError(problems)
                header = canon
                continue
            record: dict[str, Any] = {}
            for col, value in enumerate(cells):
                name = header[col] if col < len(header) else ""
                if not name:
                    if value.strip():
                        record[f"(column {col + 1}, no header)"] = value  # reported as an unknown field
                    continue
                if name not in IGNORED:
                    record[name] = value
            records.append(record)
            lines.append(line)
    except csv.Error as err:
        raise CmdbError(f"line {start}: not valid CSV: {clean_line(str(err), 120)}") from None
    if header is None:
        raise CmdbError("the file is empty: no header row, no business systems")
    return records, lines


def parse_text(text: str, fmt: str, source: str = "") -> list[BusinessSystem]:
    """The business systems in a file's text, read as ``fmt`` (csv, tsv, json, yaml). See the module."""
    lines: list[int] | None = None
    if fmt in ("csv", "tsv"):
        records, lines = _csv_records(text, "," if fmt == "csv" else "\t")
    elif fmt == "json":
        try:
            data = json.loads(text, object_pairs_hook=_json_pairs)
        except json.JSONDecodeError as err:
            raise CmdbError(f"not valid JSON: line {err.lineno} column {err.colno}: {err.msg}") from None
        except ValueError as err:
            raise CmdbError(f"not valid JSON: {err}") from None
        records = _records_of(data, fmt)
    elif fmt == "yaml":
        try:
            data = yaml.load(text, Loader=_StringLoader)  # noqa: S506 - a safe loader
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f"line {mark.line + 1} column {mark.column + 1}: " if mark is not None else ""
            what = getattr(err, "problem", None) or str(err)
            raise CmdbError(f"not valid YAML: {where}{clean_line(str(what), 120)}") from None
        records = _records_of(data, fmt)
    else:
        raise CmdbError(f"unknown format {_show(fmt)}: csv, tsv, json or yaml")
    if not records:
        raise CmdbError("no business systems in the file (an import replaces what its source had: an empty "
                        "file would remove them all; use `cmdb remove` for that)")
    return from_records(records, None, source, strict=True, lines=lines)


def parse_file(path: str | Path, *, source: str | None = None, fmt: str | None = None) -> list[BusinessSystem]:
    """The business systems in a CSV, TSV, JSON or YAML file (the format from the extension, else sniffed),
    each with ``source`` (default ``import:<file name>``). All or nothing: any problem raises
    :class:`CmdbError` listing every one, by row, line (CSV) and field."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > MAX_FILE:
            raise CmdbError(f"{size} bytes: larger than {MAX_FILE // (1024 * 1024)} MiB")
        data = p.read_bytes()
    except OSError as err:
        raise CmdbError(f"cannot read: {err.strerror or err}") from None
    text = _decode(data)
    return parse_text(text, fmt or _sniff(p.name, text), f"import:{p.name}" if source is None else source)


# ------------------------------------------------------------------------------------------ matching
_NS_PARTS = re.compile(r"ns-([^-]+)-(.+)")


def namespace_parts(namespace: str) -> tuple[str, str] | None:
    """``ns-<department>-<app>`` -> (department, app); None for a namespace that does not follow it."""
    m = _NS_PARTS.fullmatch(namespace)
    return (m[1], m[2]) if m else None


@dataclass(frozen=True, slots=True)
class Match:
    """A business system an object or alert belongs to, and why: ``kind`` is one of :data:`RULE_KINDS`,
    ``rule`` the human text (``namespace ns-risk-*``, ``node gpu-node-7 runs pods of ns-risk-limit``)."""

    system: BusinessSystem
    kind: str
    rule: str

    @property
    def rank(self) -> int:
        return RULE_KINDS.index(self.kind)


_MAGIC = re.compile(r"[*?\[]")


class _Index:
    """Entries (names or shell patterns) of many systems, looked up by a key: exact entries in a dict,
    patterns precompiled, each answer cached (bounded)."""

    __slots__ = ("exact", "patterns", "cache")

    def __init__(self) -> None:
        self.exact: dict[str, list[tuple[int, str]]] = {}
        self.patterns: list[tuple[Callable[[str], Any], int, str]] = []
        self.cache: dict[str, tuple[tuple[int, str], ...]] = {}

    def add(self, key: str, idx: int, entry: str) -> None:
        if _MAGIC.search(key):
            self.patterns.append((re.compile(translate(key)).match, idx, entry))
        else:
            self.exact.setdefault(key, []).append((idx, entry))

    def find(self, key: str) -> tuple[tuple[int, str], ...]:
        hit = self.cache.get(key)
        if hit is None:
            found = list(self.exact.get(key, ()))
            found += [(idx, entry) for test, idx, entry in self.patterns if test(key)]
            hit = tuple(found)
            if len(self.cache) > 50_000:
                self.cache.clear()
            self.cache[key] = hit
        return hit


def _order(m: Match) -> tuple:
    return (m.rank, m.system.tier if m.system.tier is not None else TIER_MAX + 1, m.system.id)


class Matcher:
    """The matching rules of a set of business systems, precompiled for repeated calls: build one per CMDB
    version, then call :meth:`match` / :meth:`for_namespace` for every pod, GPU or alert. Answers per
    namespace, deployment, label and node are cached, so thousands of calls a second cost dict lookups.

    Each system appears at most once in an answer, with its strongest rule (the module lists the order);
    answers are sorted by rule strength, then tier (1 first, none last), then id. Safe to share between
    threads (the caches are plain dicts filled idempotently)."""

    def __init__(self, systems: Iterable[BusinessSystem]) -> None:
        self.systems: tuple[BusinessSystem, ...] = tuple(systems)
        self._ns, self._seg_dept, self._seg_full = _Index(), _Index(), _Index()
        self._deploy, self._deploy_in_ns, self._nodes = _Index(), _Index(), _Index()
        self._labels: dict[str, _Index] = {}  # label key -> its values (names or patterns)
        self._labels_wild = _Index()  # entries whose key is a pattern, matched against "key=value"
        for idx, s in enumerate(self.systems):
            for e in s.namespaces:
                self._ns.add(e.lower(), idx, e)
            for e in s.segments:
                (self._seg_full if "-" in e else self._seg_dept).add(e.lower(), idx, e)
            for e in s.deployments:
                (self._deploy_in_ns if "/" in e else self._deploy).add(e.lower(), idx, e)
            for e in s.labels:
                key, _, value = e.partition("=")
                if _MAGIC.search(key):
                    self._labels_wild.add(e, idx, e)
                else:
                    self._labels.setdefault(key, _Index()).add(value, idx, e)
            for e in s.nodes:
                self._nodes.add(e.lower(), idx, e)
        self._ns_cache: dict[str, tuple[Match, ...]] = {}

    def for_namespace(self, namespace: str) -> list[Match]:
        """The systems owning a namespace (explicit namespace rules, then segments), cached per namespace."""
        return list(self._namespace(namespace))

    def _namespace(self, namespace: str) -> tuple[Match, ...]:
        hit = self._ns_cache.get(namespace)
        if hit is not None:
            return hit
        best: dict[int, Match] = {}
        key = namespace.lower()
        for idx, entry in self._ns.find(key):
            best.setdefault(idx, Match(self.systems[idx], "namespace", f"namespace {entry}"))
        parts = namespace_parts(key)
        if parts is not None:
            for idx, entry in self._seg_dept.find(parts[0]) + self._seg_full.find(f"{parts[0]}-{parts[1]}"):
                best.setdefault(idx, Match(self.systems[idx], "segment", f"segment {entry}"))
        hit = tuple(sorted(best.values(), key=_order))
        if len(self._ns_cache) > 50_000:
            self._ns_cache.clear()
        self._ns_cache[namespace] = hit
        return hit

    def match(self, *, namespace: str | None = None, labels: Mapping[str, str] | None = None,
              deployment: str | None = None, node: str | None = None,
              node_namespaces: Iterable[str] | None = None, node_addresses: Iterable[str] = ()) -> list[Match]:
        """The systems an object or alert belongs to: give what is known of it.

        ``namespace``: its namespace; ``labels``: its labels (or the alert's); ``deployment``: the model
        deployment's name; ``node``: the node (hostname or IP) it runs on or the alert is about. A node-level
        target gives ``node`` and no ``namespace``; then ``node_namespaces``, the namespaces with pods on that
        node (the caller reads them from the state), map it to every system owning one of them.
        ``node_addresses``: the node's other names (its IPs, from ``status.addresses``): a CMDB that lists the
        node by IP matches through them. An empty answer means untagged."""
        best: dict[int, Match] = {}

        def offer(m: Match) -> None:
            old = best.get(id(m.system))
            if old is None or m.rank < old.rank:
                best[id(m.system)] = m

        if namespace:
            for m in self._namespace(namespace):
                offer(m)
        if deployment:
            name = deployment.lower()
            hits = self._deploy.find(name)
            if namespace:
                hits += self._deploy_in_ns.find(f"{namespace.lower()}/{name}")
            for idx, entry in hits:
                offer(Match(self.systems[idx], "deployment", f"deployment {entry}"))
        if labels:
            wild = bool(self._labels_wild.exact or self._labels_wild.patterns)
            for k, v in labels.items():
                values = self._labels.get(k)
                hits = values.find(v) if values is not None else ()
                if wild:
                    hits += self._labels_wild.find(f"{k}={v}")
                for idx, entry in hits:
                    offer(Match(self.systems[idx], "label", f"label {entry}"))
        if node:
            for name in (node, *node_addresses):
                for idx, entry in self._nodes.find(name.lower()):
                    offer(Match(self.systems[idx], "node", f"node {entry}"))
            if not namespace and node_namespaces:
                via: dict[int, tuple[BusinessSystem, list[str]]] = {}
                for ns in sorted(set(node_namespaces)):
                    for m in self._namespace(ns):
                        via.setdefault(id(m.system), (m.system, []))[1].append(ns)
                for system, names in via.values():
                    shown = ", ".join(clean(n) for n in names[:2]) + (
                        f" and {len(names) - 2} more" if len(names) > 2 else "")
                    offer(Match(system, "node-pods", f"node {clean(node)} runs pods of {shown}"))
        return sorted(best.values(), key=_order)


def match(systems: Iterable[BusinessSystem], *, namespace: str | None = None,
          labels: Mapping[str, str] | None = None, deployment: str | None = None, node: str | None = None,
          node_namespaces: Iterable[str] | None = None) -> list[Match]:
    """One-off :meth:`Matcher.match` (build a :class:`Matcher` for repeated calls)."""
    return Matcher(systems).match(namespace=namespace, labels=labels, deployment=deployment, node=node,
                                  node_namespaces=node_namespaces)
