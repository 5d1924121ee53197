"""The three patch types the Kubernetes apiserver accepts, on JSON-like values.

* :func:`merge_patch` — ``application/merge-patch+json`` (RFC 7386);
* :func:`json_patch` — ``application/json-patch+json`` (RFC 6902);
* :func:`strategic_merge_patch` — ``application/strategic-merge-patch+json``,
  with a small table of the merge keys that built-in kinds declare.

No function mutates its inputs, and every result is a fresh structure that
shares nothing with them.  Failures raise :class:`PatchError`.
"""

from __future__ import annotations

import copy
import re
from typing import Any

__all__ = ["PatchError", "json_patch", "merge_patch", "strategic_merge_patch"]


class PatchError(ValueError):
    """Message for a 422/400 Status; ``code`` is the HTTP status to answer with.

    422 (Unprocessable Entity) when a well-formed patch cannot be applied,
    400 (Bad Request) when the patch body itself is malformed.
    """

    def __init__(self, message: str, code: int = 422) -> None:
        super().__init__(message)
        self.code = code


# --------------------------------------------------------------------------
# RFC 7386 JSON merge patch
# --------------------------------------------------------------------------


def merge_patch(target: Any, patch: Any) -> Any:
    """Apply an RFC 7386 merge patch and return the result.

    Objects merge recursively, ``None`` (null) deletes a key, and any other
    value — lists included — replaces the target's value whole.
    """
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# --------------------------------------------------------------------------
# RFC 6902 JSON patch (with RFC 6901 JSON pointers)
# --------------------------------------------------------------------------


def _pointer(text: Any, what: str = "path") -> list[str]:
    """Split an RFC 6901 JSON pointer into unescaped reference tokens."""
    if not isinstance(text, str):
        raise PatchError(f"{what} must be a string, got {text!r}")
    if text == "":
        return []
    if not text.startswith("/"):
        raise PatchError(f"JSON pointer must be empty or start with '/': {text!r}")
    tokens = []
    for raw in text[1:].split("/"):
        if re.search("~(?![01])", raw):
            raise PatchError(f"invalid escape in JSON pointer {text!r}")
        tokens.append(raw.replace("~1", "/").replace("~0", "~"))
    return tokens


def _index(token: str, size: int, *, allow_end: bool, path: str) -> int:
    """Turn an array reference token into an index, checking its bounds."""
    if token == "-" and allow_end:
        return size
    if not token.isascii() or not token.isdigit() or (len(token) > 1 and token[0] == "0"):
        raise PatchError(f"invalid array index {token!r} in path {path!r}")
    index = int(token)
    if index > size or (index == size and not allow_end):
        raise PatchError(f"array index {index} out of bounds in path {path!r}")
    return index


def _walk(doc: Any, tokens: list[str], path: str) -> Any:
    """Return the value that ``tokens`` designate inside ``doc``."""
    for token in tokens:
        if isinstance(doc, dict):
            if token not in doc:
                raise PatchError(f"doc is missing path: {path!r}")
            doc = doc[token]
        elif isinstance(doc, list):
            doc = doc[_index(token, len(doc), allow_end=False, path=path)]
        else:
            raise PatchError(f"doc is missing path: {path!r}")
    return doc


def _add(doc: Any, tokens: list[str], value: Any, path: str) -> Any:
    """Add ``value`` at ``tokens`` (in place where possible); return the new doc."""
    if not tokens:
        return value
    parent = _walk(doc, tokens[:-1], path)
    last = tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(last, len(parent), allow_end=True, path=path), value)
    else:
        raise PatchError(f"add operation does not apply: doc is missing path: {path!r}")
    return doc


def _replace(doc: Any, tokens: list[str], value: Any, path: str) -> Any:
    """Replace the existing value at ``tokens`` (in place); return the new doc."""
    if not tokens:
        return value
    parent = _walk(doc, tokens[:-1], path)
    last = tokens[-1]
    if isinstance(parent, dict) and last in parent:
        parent[last] = value
    elif isinstance(parent, list):
        parent[_index(last, len(parent), allow_end=False, path=path)] = value
    else:
        raise PatchError(f"replace operation does not apply: doc is missing key: {path!r}")
    return doc


def _remove(doc: Any, tokens: list[str], path: str) -> Any:
    """Remove and return the value at ``tokens`` (in place)."""
    if not tokens:
        raise PatchError("unable to remove the whole document")
    parent = _walk(doc, tokens[:-1], path)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError(f"unable to remove nonexistent key: {last}: missing value")
        return parent.pop(last)
    if isinstance(parent, list):
        return parent.pop(_index(last, len(parent), allow_end=False, path=path))
    raise PatchError(f"remove operation does not apply: doc is missing path: {path!r}")


def _json_equal(a: Any, b: Any) -> bool:
    """Compare JSON values as RFC 6902 ``test`` does (``true`` is not ``1``)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(map(_json_equal, a, b))
    return type(a) is type(b) and a == b


def json_patch(target: Any, ops: list[dict]) -> Any:
    """Apply an RFC 6902 JSON patch (all operations or none) and return the result.

    A body that is not a list of objects raises ``PatchError`` with code 400;
    an operation that cannot be applied raises it with code 422.
    """
    if not isinstance(ops, list) or not all(isinstance(op, dict) for op in ops):
        raise PatchError("invalid JSON patch: expected a list of operation objects", 400)
    doc = copy.deepcopy(target)
    for op in ops:
        kind = op.get("op")
        if kind not in ("add", "remove", "replace", "move", "copy", "test"):
            raise PatchError(f"Unexpected kind: {kind}")
        if "path" not in op:
            raise PatchError(f"{kind} operation missing path field")
        path = op["path"]
        tokens = _pointer(path)
        if kind in ("add", "replace", "test") and "value" not in op:
            raise PatchError(f"{kind} operation missing value field")
        value = copy.deepcopy(op.get("value"))
        if kind == "add":
            doc = _add(doc, tokens, value, path)
        elif kind == "remove":
            _remove(doc, tokens, path)
        elif kind == "replace":
            doc = _replace(doc, tokens, value, path)
        elif kind in ("move", "copy"):
            if "from" not in op:
                raise PatchError(f"{kind} operation missing from field")
            source = _pointer(op["from"], "from")
            moved = _walk(doc, source, op["from"])
            if kind == "copy":
                doc = _add(doc, tokens, copy.deepcopy(moved), path)
            elif source != tokens:
                if tokens[: len(source)] == source:
                    raise PatchError(f"cannot move {op['from']!r} into its own child {path!r}")
                _remove(doc, source, op["from"])
                doc = _add(doc, tokens, moved, path)
        elif not _json_equal(_walk(doc, tokens, path), value):  # test
            raise PatchError(f"testing value {path} failed: test failed")
    return doc


# --------------------------------------------------------------------------
# Strategic merge patch
# --------------------------------------------------------------------------

# Merge keys of the lists that built-in kinds merge by key instead of replace.
# Each rule is (kinds or None for any kind, field-path suffix, merge key); the
# path holds object field names from the root, list positions left out.  The
# longest matching suffix wins.  Lists without a rule are replaced whole
# (finalizers, tolerations, args, ...).
_MERGE_KEYS: tuple[tuple[frozenset[str] | None, tuple[str, ...], str], ...] = (
    (None, ("containers",), "name"),
    (None, ("initContainers",), "name"),
    (None, ("ephemeralContainers",), "name"),
    (None, ("env",), "name"),
    (None, ("volumes",), "name"),
    (None, ("volumeMounts",), "mountPath"),
    (None, ("volumeDevices",), "devicePath"),
    (None, ("containers", "ports"), "containerPort"),
    (None, ("initContainers", "ports"), "containerPort"),
    (None, ("ephemeralContainers", "ports"), "containerPort"),
    (None, ("imagePullSecrets",), "name"),
    (None, ("hostAliases",), "ip"),
    (None, ("topologySpreadConstraints",), "topologyKey"),
    (None, ("schedulingGates",), "name"),
    (None, ("metadata", "ownerReferences"), "uid"),
    (None, ("status", "conditions"), "type"),
    (frozenset({"Service"}), ("spec", "ports"), "port"),
    (frozenset({"Node"}), ("status", "addresses"), "type"),
    (frozenset({"ServiceAccount"}), ("secrets",), "name"),
)

_DIRECTIVE = "$patch"
_RETAIN_KEYS = "$retainKeys"
_SET_ORDER = "$setElementOrder/"
_DELETE_PRIMITIVES = "$deleteFromPrimitiveList/"


def _merge_key_for(kind: str, path: tuple[str, ...]) -> str | None:
    """Return the merge key of the list at field ``path`` in ``kind``, if any."""
    best: tuple[int, str | None] = (0, None)
    for kinds, suffix, key in _MERGE_KEYS:
        if (kinds is None or kind in kinds) and path[-len(suffix):] == suffix:
            best = max(best, (len(suffix), key), key=lambda b: b[0])
    return best[1]


def _is_directive(key: str) -> bool:
    """Tell whether an object key is a strategic-merge directive, not data."""
    return key in (_DIRECTIVE, _RETAIN_KEYS) or key.startswith(
        (_SET_ORDER, _DELETE_PRIMITIVES)
    )


def _merge_map(original: dict, patch: dict, kind: str, path: tuple[str, ...]) -> dict:
    """Strategic-merge ``patch`` into a copy of ``original``."""
    directive = patch.get(_DIRECTIVE)
    if directive == "replace":
        return _merge_map({}, {k: v for k, v in patch.items() if k != _DIRECTIVE}, kind, path)
    if directive == "delete":
        return {}
    if directive not in (None, "merge"):
        raise PatchError(f"unknown patch type: {directive} in map: {patch}", 400)

    result = copy.deepcopy(original)
    if _RETAIN_KEYS in patch:
        retain = patch[_RETAIN_KEYS]
        if not isinstance(retain, list):
            raise PatchError("invalid patch: $retainKeys must be a list", 400)
        for key in patch:
            if not _is_directive(key) and key not in retain:
                raise PatchError("the content of patch and $retainKeys do not match")
        result = {k: v for k, v in result.items() if k in retain}

    for key, value in patch.items():
        if key.startswith(_DELETE_PRIMITIVES):
            field = key[len(_DELETE_PRIMITIVES):]
            if not isinstance(value, list):
                raise PatchError(f"invalid patch: {key} must be a list", 400)
            if isinstance(result.get(field), list):
                result[field] = [
                    item for item in result[field]
                    if not any(_json_equal(item, gone) for gone in value)
                ]

    for key, value in patch.items():
        if _is_directive(key):
            continue
        if value is None:
            result.pop(key, None)
            continue
        result[key] = _merge_value(result.get(key), value, kind, path + (key,))
    return result


def _merge_value(original: Any, patch: Any, kind: str, path: tuple[str, ...]) -> Any:
    """Merge one field's patch value into its original value."""
    if isinstance(patch, dict):
        return _merge_map(original if isinstance(original, dict) else {}, patch, kind, path)
    if isinstance(patch, list):
        key = _merge_key_for(kind, path)
        if key is not None and all(isinstance(item, dict) for item in patch):
            current = original if isinstance(original, list) else []
            if all(isinstance(item, dict) for item in current):
                return _merge_list(current, patch, key, kind, path)
    return copy.deepcopy(patch)


def _merge_list(
    original: list[dict], patch: list[dict], key: str, kind: str, path: tuple[str, ...]
) -> list[dict]:
    """Merge a list of objects identified by ``key`` (e.g. containers by name)."""
    if any(item.get(_DIRECTIVE) == "replace" and key not in item for item in patch):
        return [
            _merge_map({}, item, kind, path)
            for item in patch
            if not (item.get(_DIRECTIVE) == "replace" and key not in item)
        ]
    for item in patch:
        if key not in item:
            raise PatchError(f"map: {item} does not contain declared merge key: {key}")
    # Like the apiserver: deletions first, then merges (new elements go last).
    deleted = [item[key] for item in patch if item.get(_DIRECTIVE) == "delete"]
    result = [
        copy.deepcopy(old) for old in original
        if not (key in old and any(_json_equal(old[key], gone) for gone in deleted))
    ]
    for item in patch:
        if item.get(_DIRECTIVE) == "delete":
            continue
        position = next(
            (i for i, old in enumerate(result) if key in old and _json_equal(old[key], item[key])),
            None,
        )
        if position is None:
            result.append(_merge_map({}, item, kind, path))
        else:
            result[position] = _merge_map(result[position], item, kind, path)
    return result


def strategic_merge_patch(target: dict, patch: dict, kind: str) -> dict:
    """Apply a Kubernetes strategic merge patch to an object of ``kind``.

    Works like :func:`merge_patch`, except that the lists in ``_MERGE_KEYS``
    merge element by element on their key, and these directives are honoured:
    ``$patch: replace|delete|merge``, ``$retainKeys``,
    ``$deleteFromPrimitiveList/<field>`` and ``$setElementOrder/<field>``
    (accepted and dropped; the result keeps the original order, new elements
    last).
    """
    if not isinstance(patch, dict):
        raise PatchError("invalid strategic merge patch: expected a JSON object", 400)
    if not isinstance(target, dict):
        raise PatchError("invalid object: expected a JSON object", 400)
    return _merge_map(target, patch, kind, ())
