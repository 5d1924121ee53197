"""Kubernetes Status errors as the apiserver writes them."""

from __future__ import annotations

import json
from typing import Any

_REASONS = {
    400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed",
    406: "NotAcceptable", 409: "Conflict", 410: "Expired", 415: "UnsupportedMediaType", 422: "Invalid",
    429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout",
}


class ApiError(Exception):
    """An error answer: HTTP code, Status reason and message, optional details."""

    def __init__(self, code: int, message: str, reason: str | None = None,
                 details: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason or _REASONS.get(code, "Unknown")
        self.details = details
        self.headers = headers or {}

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                               "message": self.message, "reason": self.reason}
        if self.details:
            out["details"] = self.details
        out["code"] = self.code
        return out


def _details(rt, name: str | None, **extra: Any) -> dict[str, Any]:
    d: dict[str, Any] = {}
    if name:
        d["name"] = name
    if rt.group:
        d["group"] = rt.group
    d["kind"] = rt.plural
    d.update(extra)
    return d


def not_found(rt, name: str) -> ApiError:
    return ApiError(404, f'{rt.qualified} "{name}" not found', "NotFound", _details(rt, name))


def already_exists(rt, name: str) -> ApiError:
    return ApiError(409, f'{rt.qualified} "{name}" already exists', "AlreadyExists", _details(rt, name))


def conflict(rt, name: str) -> ApiError:
    return ApiError(409, f'Operation cannot be fulfilled on {rt.qualified} "{name}": the object has been '
                         "modified; please apply your changes to the latest version and try again",
                    "Conflict", _details(rt, name))


def invalid(rt, name: str, field: str, value: Any, detail: str) -> ApiError:
    kind = rt.kind if not rt.group else f"{rt.kind}.{rt.group}"
    shown = json.dumps(value) if isinstance(value, str) else str(value)  # Go's %q for strings, else %v
    cause = f"Invalid value: {shown}: {detail}"
    return ApiError(422, f'{kind} "{name}" is invalid: {field}: {cause}', "Invalid", {
        **_details(rt, name), "kind": rt.kind,
        "causes": [{"reason": "FieldValueInvalid", "message": cause, "field": field}]})


def forbidden(rt_plural: str, group: str, user: str, verb: str, namespace: str | None,
              name: str | None = None, subresource: str = "", qualified: str | None = None) -> ApiError:
    what = qualified or (rt_plural if not group else f"{rt_plural}.{group}")
    res = rt_plural + (f"/{subresource}" if subresource else "")
    head = f'{what} "{name}" is forbidden' if name else f"{what} is forbidden"
    where = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
    msg = f'{head}: User "{user}" cannot {verb} resource "{res}" in API group "{group}" {where}'
    details: dict[str, Any] = {"kind": rt_plural}
    if name:
        details = {"name": name, **details}
    if group:
        details["group"] = group
    return ApiError(403, msg, "Forbidden", details)


def gone(message: str) -> ApiError:
    return ApiError(410, message, "Expired")


def bad_request(message: str) -> ApiError:
    return ApiError(400, message, "BadRequest")
