"""Settings: built-in defaults < TOML file < ``PROPHECIS_TUI_*`` environment < command line.

The file is ``$PROPHECIS_TUI_CONFIG`` if set, else ``$XDG_CONFIG_HOME/prophecis-tui/config.toml``
(``~/.config/prophecis-tui/config.toml``). A missing default file means "all defaults"; a file
named explicitly (``load_settings(path)`` or ``PROPHECIS_TUI_CONFIG``) must exist.

Environment variables use the prefix ``PROPHECIS_TUI_`` and ``__`` between nested keys:
``PROPHECIS_TUI_UI__THEME=high-contrast``, ``PROPHECIS_TUI_CONTEXTS__PROD__READ_ONLY=true``.
Complex values (``PROPHECIS_TUI_UI__KEYS``) are JSON.

``[contexts.<kube-context>]`` sections override the top level for one Kubernetes context;
:meth:`Settings.for_context` merges them into an :class:`EffectiveSettings`. Within one layer
the context section wins over the top level; a higher layer (environment, command line) wins
over a lower one, so ``--namespace`` beats a namespace in the file's context section.
``read_only`` is a safety lock: true anywhere (top level, context, wall mode) means read-only.

Secrets (the Linkis token and password) are never taken from the command line. They come from the
environment (``PROPHECIS_TUI_LINKIS__TOKEN`` / ``__PASSWORD``, per context
``PROPHECIS_TUI_CONTEXTS__<NAME>__LINKIS__TOKEN``; the older ``PROPHECIS_TUI_LINKIS_TOKEN`` /
``_PASSWORD`` too), from a file named by ``[linkis] token_file`` / ``password_file`` (refused when
others may read it), or from ``[linkis] token`` / ``password`` in the config file itself, accepted
only when that file is readable by its owner alone (mode 0600). They are held as ``SecretStr`` so
``repr()``, ``model_dump()`` and error messages never show them.

Every problem is raised as :class:`ConfigError`, whose ``str`` is one printable line.

This module imports no Textual and does no network I/O (layer 6 in DESIGN.md).
"""

from __future__ import annotations

import os
import re
import stat
import string
import tomllib
import unicodedata
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings.exceptions import SettingsError

__all__ = [
    "APP_NAME",
    "CONFIG_ENV_VAR",
    "DEFAULT_TICKET_PATTERN",
    "DEFAULT_NOTEBOOK_IMAGES",
    "DEFAULT_WORKSPACE",
    "ENV_PREFIX",
    "HIGH_CONTRAST_THEME",
    "SECRET_KEYS",
    "CMDB_FIELDS",
    "AlertsOverride",
    "AlertsSettings",
    "CmdbOverride",
    "CmdbSettings",
    "ConfigError",
    "ContextSettings",
    "DEFAULT_LINKIS_ENGINES",
    "LinkisOverride",
    "LinkisSettings",
    "EffectiveSettings",
    "MetricsOverride",
    "MetricsSettings",
    "NotebooksOverride",
    "NotebooksSettings",
    "Settings",
    "UiSettings",
    "config_path",
    "data_dir",
    "load_settings",
    "normalize_keys",
]

APP_NAME = "prophecis-tui"
ENV_PREFIX = "PROPHECIS_TUI_"
CONFIG_ENV_VAR = "PROPHECIS_TUI_CONFIG"
CONFIG_FILE_NAME = "config.toml"
HIGH_CONTRAST_THEME = "high-contrast"
DEFAULT_THEME = "textual-dark"
#: Keys that hold secrets: accepted from the environment only, never from the file or CLI.
SECRET_KEYS = frozenset({"linkis_token", "linkis_password"})
#: The ``[linkis]`` keys that hold secrets: accepted in the config file only when it is owner-only (0600).
LINKIS_SECRET_KEYS = ("token", "password")

MetricsSource = Literal["prometheus", "dcgm", "nvml", "auto", "none"]
CmdbSource = Literal["file", "url", "none"]
DemoScale = Literal["small", "large", "xlarge"]

#: The images Prophecis's MLLabis offers for notebooks (the ``[notebooks] images`` default).
DEFAULT_NOTEBOOK_IMAGES = (
    "wedatasphere/prophecis:jupyterlab-1.4.0-py38-cpu",
    "wedatasphere/prophecis:jupyterlab-1.4.0-py38-gpu",
    "wedatasphere/prophecis:tf-2.6.2-gpu-py38",
    "wedatasphere/prophecis:pytorch-2.1.2-cuda12.1-py310",
)
DEFAULT_WORKSPACE = "/data/bdap-ss/mlss-data/{user}"
#: The ``[quota] max_annotation`` default (the same key as prophecis_tui.quota.DEFAULT_MAX_ANNOTATION).
DEFAULT_QUOTA_MAX_ANNOTATION = "prophecis.webank.com/gpu-max"


# -------------------------------------------------------------------------------------- errors
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _one_line(text: str) -> str:
    """Neutralise control characters (newlines, escapes) so a message stays one safe line."""
    return _CONTROL.sub(lambda m: "\\x%02x" % ord(m.group()) if ord(m.group()) < 0x100
                        else "\\u%04x" % ord(m.group()), text)


class ConfigError(Exception):
    """A configuration problem, worded for the user. ``str(err)`` is one line.

    ``problems`` holds every individual problem (also one line each); ``str`` joins them.
    """

    def __init__(self, *problems: str) -> None:
        lines = [_one_line(p) for p in problems] or ["invalid configuration"]
        self.problems: tuple[str, ...] = tuple(lines)
        shown = "; ".join(lines[:5])
        if len(lines) > 5:
            shown += f"; and {len(lines) - 5} more"
        super().__init__(shown)


# ------------------------------------------------------------------------------ field validators
_MODIFIERS = ("ctrl", "shift", "alt", "meta", "super", "hyper")
_KEY_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_BINDING_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:-]*")
_KEY_NAME_REPLACEMENTS = {  # as textual.keys.KEY_NAME_REPLACEMENTS
    "solidus": "slash",
    "reverse_solidus": "backslash",
    "commercial_at": "at",
    "hyphen_minus": "minus",
    "plus_sign": "plus",
    "low_line": "underscore",
}


def _character_to_key(ch: str) -> str:
    """A single character as Textual names it (``:`` -> ``colon``), like textual.keys does.

    ``App.set_keymap`` does not translate characters itself, so a keymap entry of ``":"``
    would never fire; we store the name.
    """
    if ch.isalnum():
        return ch
    if ch == "\t":
        return "tab"
    try:
        name = unicodedata.name(ch).lower().replace("-", "_").replace(" ", "_")
    except ValueError:
        return ch
    return _KEY_NAME_REPLACEMENTS.get(name, name)


def _normalize_key(key: str) -> str:
    key = key.strip()
    if not key:
        raise ValueError("empty key in the list")
    if key == "+":
        return "plus"
    *mods, last = key.split("+") if not key.endswith("++") else [*key[:-2].split("+"), "+"]
    seen = []
    for mod in mods:
        m = mod.strip().lower()
        if m not in _MODIFIERS:
            raise ValueError(
                f"{key!r}: unknown modifier {mod!r} (use {', '.join(_MODIFIERS)})"
            )
        if m in seen:
            raise ValueError(f"{key!r}: modifier {m!r} given twice")
        seen.append(m)
    last = last.strip()
    if len(last) == 1:
        if not last.isprintable() and last != "\t":
            raise ValueError(f"{key!r} is not a key")
        name = _character_to_key(last)
    elif _KEY_NAME.fullmatch(last):
        name = last.lower()
    else:
        raise ValueError(
            f"{key!r} is not a key (use one character or a Textual key name such as "
            "'f1', 'escape', 'question_mark')"
        )
    return "+".join([*seen, name])


def _check_key_spec(value: str) -> str:
    if not value.strip():
        raise ValueError("a key binding must name at least one key")
    if value.strip() == ",":
        return "comma"
    return ",".join(_normalize_key(k) for k in value.split(","))


def _check_binding_id(value: str) -> str:
    if not _BINDING_ID.fullmatch(value):
        raise ValueError(
            f"binding id {value!r} must be letters, digits and . _ : - (e.g. 'app.command')"
        )
    return value


def normalize_keys(spec: str) -> str:
    """Validate a key list such as ``"ctrl+p, :"`` and return it in Textual's names
    (``"ctrl+p,colon"``). Raises ``ValueError`` when a key is not a key."""
    return _check_key_spec(spec)


def _check_url(value: str) -> str:
    value = value.strip()
    try:
        parts = urlsplit(value)
        _ = parts.port  # raises ValueError on a bad port
    except ValueError as err:
        raise ValueError(f"not a valid URL ({err})") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError("must be an http:// or https:// URL")
    if not parts.hostname:
        raise ValueError("the URL has no host")
    if parts.password is not None:
        # Never echo the value: it carries a secret.
        raise ValueError(
            "the URL carries a password; secrets do not belong in the configuration "
            "(use the environment or a token file)"
        )
    if any(c.isspace() for c in value):
        raise ValueError("a URL cannot contain spaces")
    return value


_THEME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def _check_theme(value: str) -> str:
    if not _THEME.fullmatch(value):
        raise ValueError(
            "a theme is a name such as 'textual-dark', 'nord' or 'high-contrast'"
        )
    return value


_NAMESPACE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


def _check_namespace(value: str) -> str:
    if len(value) > 63 or not _NAMESPACE.fullmatch(value):
        raise ValueError(
            "not a Kubernetes namespace name (lower-case letters, digits and '-', at most 63)"
        )
    return value


def _check_nonempty(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


def _expand_paths(value: str) -> str:
    """``~`` expansion for a path or an ``os.pathsep``-separated list (like $KUBECONFIG)."""
    value = _check_nonempty(value)
    return os.pathsep.join(os.path.expanduser(p) for p in value.split(os.pathsep))


_IMAGE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:@-]*")


def _check_image(value: str) -> str:
    """An image reference such as ``registry.example.com:5000/team/image:tag`` (or ``@sha256:...``)."""
    value = value.strip()
    if not value:
        raise ValueError("an image name must not be empty")
    if "://" in value:
        raise ValueError(f"{value!r} is a URL; an image is written like 'registry/repository:tag'")
    if not _IMAGE.fullmatch(value):
        raise ValueError(f"{value!r} is not an image reference "
                         "(e.g. 'wedatasphere/prophecis:jupyterlab-1.4.0-py38-cpu')")
    name = value.split("@", 1)[0]
    head, _, last = name.rpartition("/")
    name = (head + "/" if head else "") + last.split(":", 1)[0]
    first, _, rest = name.partition("/")
    repository = rest if rest and ("." in first or ":" in first or first == "localhost") else name
    if repository != repository.lower():
        raise ValueError(f"{value!r}: an image's repository name is lower case")
    return value


def _check_images(value: list[str]) -> list[str]:
    if not value:
        raise ValueError("list at least one image (the notebook form offers only these)")
    return list(dict.fromkeys(value))


def _check_workspace(value: str) -> str:
    value = value.strip()
    if not value.startswith("/"):
        raise ValueError("the workspace template must be an absolute path, e.g. '/data/bdap-ss/mlss-data/{user}'")
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(value) if f is not None]
    except ValueError as err:
        raise ValueError(f"not a valid template ({err}); write braces as {{{{ and }}}}") from None
    unknown = sorted({f for f in fields if f not in ("user", "namespace")})
    if unknown:
        raise ValueError(f"unknown placeholder {{{unknown[0]}}}: use {{user}} and {{namespace}}")
    if any(c.isspace() for c in value):
        raise ValueError("the workspace template cannot contain spaces")
    return value


def _check_annotation_key(value: str) -> str:
    """A Kubernetes annotation key: an optional DNS-subdomain prefix and "/", then a name of at most
    63 characters (alphanumerics, '-', '_', '.'; alphanumeric at both ends)."""
    value = value.strip()
    prefix, _, name = value.rpartition("/")
    if "/" in prefix:
        raise ValueError(f"{value!r} is not an annotation key: at most one '/'")
    if prefix and (len(prefix) > 253 or not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*",
                                                         prefix)):
        raise ValueError(f"{value!r} is not an annotation key: the prefix must be a DNS subdomain, "
                         "e.g. prophecis.webank.com")
    if not name or len(name) > 63 or not re.fullmatch(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?", name):
        raise ValueError(f"{value!r} is not an annotation key: the name must be 1-63 letters, digits, "
                         "'-', '_' or '.', starting and ending with a letter or digit")
    return value


Url = Annotated[str, AfterValidator(_check_url)]
Theme = Annotated[str, AfterValidator(_check_theme)]
NamespaceName = Annotated[str, AfterValidator(_check_namespace)]
NonEmpty = Annotated[str, AfterValidator(_check_nonempty)]
KeySpec = Annotated[str, AfterValidator(_check_key_spec)]
BindingId = Annotated[str, AfterValidator(_check_binding_id)]
UserPath = Annotated[Path, AfterValidator(lambda p: p.expanduser())]
PathList = Annotated[str, AfterValidator(_expand_paths)]
RefreshSeconds = Annotated[float, Field(ge=0.05, le=5.0, allow_inf_nan=False)]
Image = Annotated[str, AfterValidator(_check_image)]
ImageList = Annotated[list[Image], AfterValidator(_check_images)]
WorkspaceTemplate = Annotated[str, AfterValidator(_check_workspace)]
AnnotationKey = Annotated[str, AfterValidator(_check_annotation_key)]


# ------------------------------------------------------------------------------------ sections
class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


WALL_PANELS = ("headline", "heatmap", "quota", "workloads", "alerts", "events")
WallPanel = Literal["headline", "heatmap", "quota", "workloads", "alerts", "events"]


class UiSettings(_Section):
    """``[ui]``: how the console looks and which keys it answers to."""

    theme: Theme = Field(
        DEFAULT_THEME,
        description="Colour theme: any Textual theme ('textual-dark', 'textual-light', 'nord', "
        "'gruvbox', 'ansi-dark', ...) or 'high-contrast'. NO_COLOR is honoured whatever "
        "the theme.",
    )
    keys: dict[BindingId, KeySpec] = Field(
        default_factory=dict,
        description="Key remapping: binding id -> comma-separated keys, e.g. "
        "'app.command' = ':' or 'app.filter' = '/, ctrl+f'. Single characters are stored "
        "under their Textual names (':' -> 'colon'). Unlisted bindings keep their keys.",
    )
    wall: bool = Field(
        False,
        description="Wall-screen mode: a read-only dashboard that runs unattended; implies "
        "read_only.",
    )
    wall_panels: list[WallPanel] = Field(
        default_factory=lambda: list(WALL_PANELS),
        description="The wall's panels, in order: " + ", ".join(f"'{p}'" for p in WALL_PANELS)
        + " (prophecis-tui wall --panels overrides it).",
    )
    wall_rotate_seconds: float = Field(
        0.0, ge=0,
        description="The wall turns to its next page every this many seconds (0: only pages that do not fit "
        "rotate, every 15 s).",
    )
    wall_refresh_seconds: float = Field(
        5.0, ge=0.5, le=300, allow_inf_nan=False,
        description="The wall works out its figures at most this often, and reads the GPU metrics this often "
        "(the console reads them every second); a wall left alone costs under 2 % of a core at 5 (make bench).",
    )
    wall_deadman_seconds: float = Field(
        300.0, gt=0,
        description="A source silent (no good data) for longer than this, and past five of its refreshes, "
        "raises the wall's full-width dead man's banner.",
    )


class _MetricsEndpoints(_Section):
    """Where a ``[metrics]`` source answers: shared by the written and the resolved forms."""

    prometheus_url: Url | None = Field(
        None, description="Prometheus base URL, e.g. http://prometheus.monitoring:9090."
    )
    dcgm_url: Url | None = Field(
        None,
        description="dcgm-exporter metrics URL, e.g. http://dcgm-exporter.gpu:9400/metrics.",
    )
    ca_file: UserPath | None = Field(
        None, description="CA bundle for an https Prometheus or dcgm-exporter with a private CA."
    )


class MetricsSettings(_MetricsEndpoints):
    """``[metrics]``: where GPU utilisation comes from (the resolved, effective form)."""

    source: MetricsSource = Field(
        "auto",
        description="'prometheus' (query Prometheus), 'dcgm' (scrape a dcgm-exporter), "
        "'nvml' (this machine's GPUs), 'auto' (detected: a Prometheus with DCGM series in the cluster, else "
        "a dcgm-exporter Service there, both through the API server's proxy, else this machine's GPUs) or 'none'.",
    )
    idle_threshold: float = Field(
        5.0, gt=0, le=100,
        description="A GPU held by a pod is idle while its utilisation stays under this many percent.",
    )
    idle_minutes: float = Field(
        30.0, gt=0, description="... for this many minutes: then it is on the idle-GPU board.",
    )

    @model_validator(mode="after")
    def _needs_endpoint(self) -> MetricsSettings:
        if self.source == "prometheus" and not self.prometheus_url:
            raise ValueError("metrics.source is 'prometheus' but metrics.prometheus_url is not set")
        if self.source == "dcgm" and not self.dcgm_url:
            raise ValueError("metrics.source is 'dcgm' but metrics.dcgm_url is not set")
        return self


class MetricsOverride(_MetricsEndpoints):
    """``[metrics]`` as written: every key optional; ``source`` defaults from what is set."""

    source: MetricsSource | None = Field(
        None,
        description="'prometheus', 'dcgm', 'nvml', 'auto' or 'none'. Unset: 'prometheus' if "
        "prometheus_url is set, else 'dcgm' if dcgm_url is set, else 'auto' (detected in the cluster: a "
        "Prometheus with DCGM series, else a dcgm-exporter Service; else this machine's GPUs through NVML; "
        "else none).",
    )
    idle_threshold: float | None = Field(
        None, gt=0, le=100, description="Idle GPU: utilisation under this many percent (default 5)."
    )
    idle_minutes: float | None = Field(
        None, gt=0, description="Idle GPU: ... for this many minutes (default 30)."
    )


#: The console's business-system fields that ``[cmdb] fields`` may map (prophecis_tui.domain.BusinessSystem's).
CMDB_FIELDS = ("id", "name", "tier", "department", "owner", "oncall", "namespaces", "segments", "labels",
               "deployments", "nodes")
DEFAULT_CMDB_REFRESH = 300.0
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LIST_KEY = re.compile(r"[^.\s]+(\.[^.\s]+)*")


def _check_cmdb_fields(value: dict[str, str]) -> dict[str, str]:
    for ours, theirs in value.items():
        if ours not in CMDB_FIELDS:
            raise ValueError(f"{ours!r} is not a business-system field (use {', '.join(CMDB_FIELDS)})")
        if not theirs.strip():
            raise ValueError(f"{ours} = '': name the CMDB's field")
    return {k: v.strip() for k, v in value.items()}


def _check_env_name(value: str) -> str:
    if not _ENV_NAME.fullmatch(value):
        raise ValueError(f"{value!r} is not an environment variable name (letters, digits, '_'; e.g. CMDB_TOKEN)")
    return value


def _check_list_key(value: str) -> str:
    if not _LIST_KEY.fullmatch(value):
        raise ValueError(f"{value!r} is not a key: a name, or names joined by '.' for a nested one (data.list)")
    return value


CmdbFields = Annotated[dict[str, str], AfterValidator(_check_cmdb_fields)]
EnvName = Annotated[str, AfterValidator(_check_env_name)]
ListKey = Annotated[str, AfterValidator(_check_list_key)]
CmdbRefresh = Annotated[float, Field(ge=5.0, le=86400.0, allow_inf_nan=False)]


class _CmdbWhere(_Section):
    """``[cmdb]`` keys shared by the written and the resolved forms (all optional)."""

    path: UserPath | None = Field(
        None, description="CMDB file (JSON) when source is 'file', e.g. ~/.local/share/prophecis-tui/cmdb.json."
    )
    url: Url | None = Field(
        None, description="CMDB REST endpoint (a JSON list of business systems) when source is 'url'."
    )
    list_key: ListKey | None = Field(
        None, description="Where the list is in the REST answer when it is an object: a key ('data') or a "
        "dotted path ('data.list'). Unset: the answer is the list itself."
    )
    token_env: EnvName | None = Field(
        None, description="Name of an environment variable holding a bearer token for the REST endpoint."
    )
    ca_file: UserPath | None = Field(None, description="CA bundle for an https CMDB with a private CA.")


class CmdbSettings(_CmdbWhere):
    """``[cmdb]``: where business-system (CMDB) records come from (resolved form)."""

    source: CmdbSource = Field("none", description="'file', 'url' or 'none'.")
    fields: CmdbFields = Field(
        default_factory=dict, description="The REST records' field names: ours = theirs. Unlisted: our name."
    )
    refresh_seconds: CmdbRefresh = Field(
        DEFAULT_CMDB_REFRESH, description="Seconds between two reads of the REST endpoint (5..86400)."
    )

    @model_validator(mode="after")
    def _needs_location(self) -> CmdbSettings:
        if self.source == "file" and self.path is None:
            raise ValueError("cmdb.source is 'file' but cmdb.path is not set")
        if self.source == "url" and not self.url:
            raise ValueError("cmdb.source is 'url' but cmdb.url is not set")
        return self

    def resolve_token(self, env: Mapping[str, str] | None = None) -> SecretStr | None:
        """The REST endpoint's bearer token, from the environment variable ``token_env`` names; None without
        ``token_env``. Raises :class:`ConfigError` (one line, never the token) when that variable is not set."""
        if not self.token_env:
            return None
        value = _env(env).get(self.token_env, "").strip()
        if not value:
            raise ConfigError(f"cmdb.token_env names {self.token_env}, which is not set in the environment")
        return SecretStr(value)


class CmdbOverride(_CmdbWhere):
    """``[cmdb]`` as written: every key optional; ``source`` defaults from what is set."""

    source: CmdbSource | None = Field(
        None,
        description="'file', 'url' or 'none'. Unset: 'file' if path is set, else 'url' if "
        "url is set, else 'none'.",
    )
    fields: CmdbFields | None = Field(
        None, description="The REST records' field names, ours = theirs, e.g. id = 'sys_code'. In a context "
        "section it replaces the top level's table."
    )
    refresh_seconds: CmdbRefresh | None = Field(
        None, description="Seconds between two reads of the REST endpoint (default 300)."
    )


class NotebooksSettings(_Section):
    """``[notebooks]``: what the "new notebook" form offers and where a notebook's URL points."""

    images: ImageList = Field(
        default_factory=lambda: list(DEFAULT_NOTEBOOK_IMAGES),
        description="Images the notebook form offers (and the only ones it accepts), first = default.",
    )
    url_base: Url | None = Field(
        None,
        description="Base URL of the platform gateway, e.g. https://mlss.example.com; joined with a "
        "notebook's NB_PREFIX (/notebook/<namespace>/<name>) to make its clickable URL. "
        "Unset: the path alone.",
    )
    default_workspace: WorkspaceTemplate = Field(
        DEFAULT_WORKSPACE,
        description="The form's default workspace (host path), a template with {user} and "
        "{namespace}.",
    )

    def url(self, prefix: str) -> str:
        """A notebook's URL: ``url_base`` joined with its NB_PREFIX path; the path alone without a base."""
        if not self.url_base:
            return prefix
        return self.url_base.rstrip("/") + "/" + prefix.lstrip("/")

    def workspace_for(self, user: str, namespace: str = "") -> str:
        """The default workspace of a user (``default_workspace`` filled in)."""
        return self.default_workspace.format(user=user, namespace=namespace)


class NotebooksOverride(_Section):
    """``[notebooks]`` in a context section: every key optional (unset = the top level's)."""

    images: ImageList | None = Field(None, description="Images offered in this context.")
    url_base: Url | None = Field(
        None, description="Gateway base URL of this context's platform, e.g. https://mlss.prod.example.com."
    )
    default_workspace: WorkspaceTemplate | None = Field(
        None, description="Default workspace template in this context ({user}, {namespace})."
    )


class QuotaSettings(_Section):
    """``[quota]``: how the quota screen reads (and the "edit quota" action writes) a tenant's GPU max."""

    max_annotation: AnnotationKey = Field(
        DEFAULT_QUOTA_MAX_ANNOTATION,
        description="Annotation on a namespace's quota (mlss-default-rq) that holds its maximum GPU "
        "count (how far it may burst above the base, requests.nvidia.com/gpu). Without it the "
        "max is the quota's hard limits.nvidia.com/gpu, else there is none.",
    )


class QuotaOverride(_Section):
    """``[quota]`` in a context section: every key optional (unset = the top level's)."""

    max_annotation: AnnotationKey | None = Field(
        None, description="Annotation holding the GPU max on this context's quotas."
    )


#: A silence's or acknowledgement's comment must contain a ticket reference matching this (``[alerts]
#: ticket_pattern``): a Jira-style key (OPS-1234), a ServiceNow incident (INC0012345) or an issue number (#123).
DEFAULT_TICKET_PATTERN = r"[A-Z][A-Z0-9]+-\d+|INC\d+|#\d+"


def _check_ticket_pattern(value: str) -> str:
    try:
        rx = re.compile(value)
    except re.error as err:
        raise ValueError(f"not a valid regular expression ({err})") from None
    if rx.search("") is not None:
        raise ValueError("the pattern matches an empty comment, so it would require nothing; "
                         f"e.g. {DEFAULT_TICKET_PATTERN!r}")
    return value


def _check_alertmanagers(value: list[str]) -> list[str]:
    return list(dict.fromkeys(v.rstrip("/") for v in value))


TicketPattern = Annotated[str, AfterValidator(_check_ticket_pattern)]
UrlList = Annotated[list[Url], AfterValidator(_check_alertmanagers)]
Minutes = Annotated[float, Field(ge=0, le=43200, allow_inf_nan=False)]


class AlertsSettings(_Section):
    """``[alerts]``: where alerts come from, how the console tells about them, and the platform rules' thresholds
    (the resolved, effective form)."""

    alertmanagers: UrlList = Field(
        default_factory=list,
        description="Alertmanager base URLs (API v2 is under <url>/api/v2), e.g. "
        "['https://alertmanager-0.monitoring:9093', 'https://alertmanager-1.monitoring:9093'] for an HA pair: "
        "an alert both report is shown once. The legacy top-level alertmanager_url is added to this list.",
    )
    ca_file: UserPath | None = Field(None, description="CA bundle for https Alertmanagers with a private CA.")
    refresh_seconds: float = Field(
        10.0, ge=0.1, le=3600, allow_inf_nan=False,
        description="Seconds between two polls of the Alertmanagers (and two rounds of the platform rules).",
    )
    events: bool = Field(True, description="Kubernetes Warning events become alerts (one per object and reason).")
    bell: bool = Field(True, description="A new critical alert rings the terminal bell.")
    osc9: bool = Field(
        True, description="A new critical alert sends an OSC 9 desktop notification (iTerm2, Windows Terminal, "
        "kitty, foot, tmux with allow-passthrough).",
    )
    history_days: float = Field(
        14.0, gt=0, le=3650, allow_inf_nan=False,
        description="Days the alert timeline (alerts.db in the data dir) keeps; older moments are pruned.",
    )
    silence_hours: float = Field(
        2.0, ge=1 / 60, le=720, allow_inf_nan=False,
        description="A new silence's default duration, in hours (the form may change it: 1 minute to 30 days).",
    )
    ticket_pattern: TicketPattern = Field(
        DEFAULT_TICKET_PATTERN,
        description="A regular expression a silence's comment must contain (a ticket reference). The default "
        "takes OPS-1234, INC0012345 or #123.",
    )
    deployment_unavailable_minutes: Minutes = Field(
        10.0, description="Platform rule: a model deployment not Available for this many minutes is critical.",
    )
    gpu_idle_minutes: float = Field(
        30.0, gt=0, le=43200, allow_inf_nan=False,
        description="Platform rule: GPUs held yet idle (under [metrics] idle_threshold) this many minutes alert "
        "(info; a warning after twice as long).",
    )
    quota_percent: float = Field(
        90.0, gt=0, le=1000, allow_inf_nan=False,
        description="Platform rule: a namespace using this % of its GPU quota (its max, else its base) is a "
        "warning; critical at 100%.",
    )
    crashloop_restarts: int = Field(
        3, ge=1, le=10000,
        description="Platform rule: a notebook's or model's pod restarted this many times and not ready (or in "
        "CrashLoopBackOff) is crash-looping.",
    )
    node_notready_minutes: Minutes = Field(
        2.0, description="Platform rule: a node NotReady for this many minutes is critical.",
    )
    resolved_minutes: Minutes = Field(
        30.0, description="Minutes a resolved alert stays on the alerts screen (dimmed); the timeline keeps it.",
    )


class AlertsOverride(_Section):
    """``[alerts]`` in a context section: every key optional (unset = the top level's)."""

    alertmanagers: UrlList | None = Field(
        None, description="This context's Alertmanagers. A context naming its own (here or with its "
        "alertmanager_url) does not use the top level's."
    )
    ca_file: UserPath | None = Field(None, description="CA bundle for this context's Alertmanagers.")
    refresh_seconds: float | None = Field(
        None, ge=0.1, le=3600, allow_inf_nan=False, description="Seconds between two polls (default 10)."
    )
    events: bool | None = Field(None, description="Warning events as alerts in this context.")
    bell: bool | None = Field(None, description="Ring the bell for a new critical alert in this context.")
    osc9: bool | None = Field(None, description="Send an OSC 9 notification for a new critical alert.")
    history_days: float | None = Field(
        None, gt=0, le=3650, allow_inf_nan=False, description="Days the timeline keeps (default 14)."
    )
    silence_hours: float | None = Field(
        None, ge=1 / 60, le=720, allow_inf_nan=False, description="A new silence's default hours (default 2)."
    )
    ticket_pattern: TicketPattern | None = Field(
        None, description="The ticket reference a silence's comment must contain in this context."
    )
    deployment_unavailable_minutes: Minutes | None = Field(None, description="Default 10.")
    gpu_idle_minutes: float | None = Field(None, gt=0, le=43200, allow_inf_nan=False, description="Default 30.")
    quota_percent: float | None = Field(None, gt=0, le=1000, allow_inf_nan=False, description="Default 90.")
    crashloop_restarts: int | None = Field(None, ge=1, le=10000, description="Default 3.")
    node_notready_minutes: Minutes | None = Field(None, description="Default 2.")
    resolved_minutes: Minutes | None = Field(None, description="Default 30.")


#: The engines the Linkis submit form offers (``[linkis] engines``): ``<engine>-<version>`` as Linkis's engineType label.
DEFAULT_LINKIS_ENGINES = ("spark-2.4.3", "spark3-3.4.4", "hive-2.3.3", "python-python2", "shell-1")
LinkisAuth = Literal["token", "password"]
_ENGINE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.]*-[A-Za-z0-9][A-Za-z0-9_.-]*")


def _check_engine(value: str) -> str:
    value = value.strip()
    if not _ENGINE.fullmatch(value):
        raise ValueError(f"{value!r} is not an engine: write <engine>-<version>, e.g. 'spark-2.4.3' or 'hive-2.3.3'")
    return value


def _check_engines(value: list[str]) -> list[str]:
    if not value:
        raise ValueError("list at least one engine (the submit form offers only these)")
    return list(dict.fromkeys(value))


def _check_creator(value: str) -> str:
    value = value.strip()
    if not re.fullmatch(r"[A-Za-z0-9_.]+", value):
        raise ValueError(f"{value!r} is not a creator: letters, digits, '_' and '.' (e.g. 'IDE')")
    return value


def _check_queue(value: str) -> str:
    value = value.strip()
    if any(c.isspace() or not c.isprintable() for c in value):
        raise ValueError("a YARN queue name cannot contain spaces or control characters")
    return value


Engine = Annotated[str, AfterValidator(_check_engine)]
EngineList = Annotated[list[Engine], AfterValidator(_check_engines)]
Creator = Annotated[str, AfterValidator(_check_creator)]
Queue = Annotated[str, AfterValidator(_check_queue)]
LinkisRefresh = Annotated[float, Field(ge=0.5, le=3600, allow_inf_nan=False)]
HistoryDays = Annotated[float, Field(gt=0, le=365, allow_inf_nan=False)]


class _LinkisWhere(_Section):
    """``[linkis]`` keys shared by the written and the resolved forms (all optional)."""

    url: Url | None = Field(
        None, description="Linkis gateway base URL, e.g. http://linkis-gateway.prophecis:9001 (the REST API is "
        "under <url>/api/rest_j/v1). Unset: no Linkis (the demo uses the simulator's)."
    )
    user: NonEmpty | None = Field(None, description="Linkis user: sent as Token-User, or the login name.")
    auth: LinkisAuth | None = Field(
        None, description="'token' (Token-Code/Token-User headers) or 'password' (login, then the session "
        "cookie). Unset: 'token' when a token is given, else 'password' when a password is, else 'token'."
    )
    token_file: UserPath | None = Field(
        None, description="File holding the Linkis token (Token-Code); refused unless only its owner may read "
        "it (chmod 600)."
    )
    password_file: UserPath | None = Field(
        None, description="File holding the Linkis password (password login); refused unless only its owner "
        "may read it (chmod 600)."
    )
    token: SecretStr | None = Field(
        None, description="The Linkis token itself. In the config file only when the file is owner-only "
        "(chmod 600); else the environment: PROPHECIS_TUI_LINKIS__TOKEN."
    )
    password: SecretStr | None = Field(
        None, description="The Linkis password itself. In the config file only when the file is owner-only "
        "(chmod 600); else the environment: PROPHECIS_TUI_LINKIS__PASSWORD."
    )
    ca_file: UserPath | None = Field(None, description="CA bundle for an https gateway with a private CA.")


class LinkisSettings(_LinkisWhere):
    """``[linkis]``: the Linkis gateway (the resolved, effective form)."""

    legacy_execute: bool = Field(
        False, description="Submit through the 0.x gateway's /entrance/execute instead of /entrance/submit."
    )
    creator: Creator = Field(
        "IDE", description="The creator (application) of submitted jobs: userCreator is <user>-<creator>."
    )
    engines: EngineList = Field(
        default_factory=lambda: list(DEFAULT_LINKIS_ENGINES),
        description="Engines the submit form offers, <engine>-<version> as the gateway knows them; first = "
        "default.",
    )
    queue: Queue = Field("", description="Default YARN queue (wds.linkis.rm.yarnqueue); '' the gateway's.")
    verify: bool = Field(True, description="Verify the gateway's TLS certificate (false only for a test gateway).")
    refresh_seconds: LinkisRefresh = Field(
        5.0, description="Seconds between two reads of the job history (the :linkis screen's list; 0.5..3600)."
    )
    history_days: HistoryDays = Field(7.0, description="Days of job history the console lists (up to 365).")

    @property
    def auth_mode(self) -> LinkisAuth:
        """``auth``, else what the secrets given say: token when there is one, else password when there is one."""
        if self.auth is not None:
            return self.auth
        if self.token is not None or self.token_file is not None:
            return "token"
        if self.password is not None or self.password_file is not None:
            return "password"
        return "token"

    def resolve_token(self) -> SecretStr | None:
        """The token: ``token`` (environment or an owner-only config file), else read from ``token_file``.
        Raises :class:`ConfigError` (one line, never the secret) when the file cannot be used."""
        if self.token is not None:
            return self.token
        if self.token_file is not None:
            return _read_secret_file(self.token_file, "Linkis token")
        return None

    def resolve_password(self) -> SecretStr | None:
        """The password: ``password``, else read from ``password_file`` (as :meth:`resolve_token`)."""
        if self.password is not None:
            return self.password
        if self.password_file is not None:
            return _read_secret_file(self.password_file, "Linkis password")
        return None

    def problem(self) -> str:
        """Why no gateway can be used ('' when it can): no url, no user, or the chosen auth without a secret."""
        if not self.url:
            return "no Linkis gateway configured ([linkis] url)"
        if not self.user:
            return "no Linkis user configured ([linkis] user)"
        if self.auth_mode == "token" and self.token is None and self.token_file is None:
            return ("no Linkis token: set PROPHECIS_TUI_LINKIS__TOKEN, [linkis] token_file, or [linkis] token in "
                    "an owner-only config file")
        if self.auth_mode == "password" and self.password is None and self.password_file is None:
            return ("no Linkis password: set PROPHECIS_TUI_LINKIS__PASSWORD, [linkis] password_file, or [linkis] "
                    "password in an owner-only config file")
        return ""


class LinkisOverride(_LinkisWhere):
    """``[linkis]`` as written (top level and per context): every key optional (unset = the default, or the
    top level's)."""

    legacy_execute: bool | None = Field(None, description="Use the 0.x /entrance/execute (default false).")
    creator: Creator | None = Field(None, description="Creator of submitted jobs (default 'IDE').")
    engines: EngineList | None = Field(None, description="Engines the submit form offers.")
    queue: Queue | None = Field(None, description="Default YARN queue (default: the gateway's).")
    verify: bool | None = Field(None, description="Verify the gateway's TLS certificate (default true).")
    refresh_seconds: LinkisRefresh | None = Field(None, description="Seconds between history reads (default 5).")
    history_days: HistoryDays | None = Field(None, description="Days of job history listed (default 7).")


#: The older flat keys and where they go in ``[linkis]``.
LINKIS_FLAT_KEYS = {"linkis_url": "url", "linkis_user": "user", "linkis_token_file": "token_file",
                    "linkis_password_file": "password_file", "linkis_token": "token",
                    "linkis_password": "password"}


SINCE_WINDOWS = ("1m", "5m", "15m", "1h", "all")  # what `s` cycles through on the log screen
TAIL_SIZES = (100, 1000, 10000, "all")  # what `T` cycles through


def _check_since(value: str) -> str:
    v = value.strip().lower()
    if v == "all" or re.fullmatch(r"[1-9][0-9]*[smhd]", v):
        return v
    raise ValueError("a since window is 'all' or a duration such as '30s', '5m', '1h', '2d'")


def since_seconds(window: str) -> int | None:
    """'5m' -> 300; 'all' -> None (the whole log the kubelet keeps)."""
    if window == "all":
        return None
    return int(window[:-1]) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[window[-1]]


def _check_tail(value: int | str) -> int | str:
    if value == "all" or (isinstance(value, int) and not isinstance(value, bool) and value > 0):
        return value
    raise ValueError("tail is a number of lines above 0, or 'all'")


SinceWindow = Annotated[str, AfterValidator(_check_since)]
TailSize = Annotated[int | Literal["all"], AfterValidator(_check_tail)]


class LogsSettings(_Section):
    """``[logs]``: the log screen's buffer and what a new log view asks the API for."""

    buffer_lines: int = Field(
        100_000, ge=1_000, le=5_000_000,
        description="Lines a log view keeps (a ring: the oldest go, and the screen counts them as "
        "dropped). About 200 bytes a line.",
    )
    since: SinceWindow = Field(
        "all",
        description="How far back a new log view starts: 'all' or a duration ('1m', '5m', '15m', "
        "'1h', '30s', '2d'). The screen's s key cycles 1m, 5m, 15m, 1h, all.",
    )
    tail: TailSize = Field(
        1000,
        description="How many of the last lines a new log view starts with (a number, or 'all'). The "
        "screen's T key cycles 100, 1000, 10000, all.",
    )

    @field_validator("tail", mode="before")
    @classmethod
    def _no_bool_tail(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("tail is a number of lines above 0, or 'all'")
        return value

    @property
    def since_seconds(self) -> int | None:
        return since_seconds(self.since)

    @property
    def tail_lines(self) -> int | None:
        return None if self.tail == "all" else int(self.tail)


class ContextSettings(_Section):
    """``[contexts.<kube-context>]``: overrides for one Kubernetes context (unset = inherit)."""

    read_only: bool | None = Field(
        None,
        description="true makes this context read-only. It cannot lift a read-only set "
        "elsewhere (flag, top level, wall mode).",
    )
    namespace: NamespaceName | None = Field(None, description="Namespace to open.")
    refresh_seconds: RefreshSeconds | None = Field(
        None, description="Minimum UI batch interval for this context (0.05..5)."
    )
    theme: Theme | None = Field(
        None, description="Theme for this context (e.g. a loud one for production)."
    )
    metrics: MetricsOverride = Field(
        default_factory=MetricsOverride, description="GPU metrics source for this context."
    )
    alertmanager_url: Url | None = Field(None, description="Alertmanager base URL.")
    linkis_url: Url | None = Field(None, description="Older spelling of [linkis] url.")
    linkis_user: NonEmpty | None = Field(None, description="Older spelling of [linkis] user.")
    linkis_token_file: UserPath | None = Field(
        None, description="File holding the Linkis token (Token-Code)."
    )
    linkis_password_file: UserPath | None = Field(
        None, description="File holding the Linkis password (password login)."
    )
    linkis_token: SecretStr | None = Field(
        None,
        description="Linkis token. Environment only: "
        "PROPHECIS_TUI_CONTEXTS__<NAME>__LINKIS_TOKEN.",
    )
    linkis_password: SecretStr | None = Field(
        None,
        description="Linkis password. Environment only: "
        "PROPHECIS_TUI_CONTEXTS__<NAME>__LINKIS_PASSWORD.",
    )
    cmdb: CmdbOverride = Field(
        default_factory=CmdbOverride, description="CMDB source for this context."
    )
    notebooks: NotebooksOverride = Field(
        default_factory=NotebooksOverride, description="Notebook images, URL and workspace for this context."
    )
    quota: QuotaOverride = Field(
        default_factory=QuotaOverride, description="Where this context's quotas keep their GPU max."
    )
    alerts: AlertsOverride = Field(
        default_factory=AlertsOverride, description="Alert sources, notification and thresholds for this context."
    )
    linkis: LinkisOverride = Field(
        default_factory=LinkisOverride, description="This context's Linkis gateway and user (e.g. a viewer's)."
    )


# ------------------------------------------------------------------------------ effective view
def _resolve_metrics(m: MetricsOverride | dict) -> dict:
    d = m.model_dump() if isinstance(m, BaseModel) else dict(m)
    for key in ("idle_threshold", "idle_minutes"):  # unset: the resolved form's default
        if d.get(key) is None:
            d.pop(key, None)
    if d.get("source") is None:
        d["source"] = ("prometheus" if d.get("prometheus_url")
                       else "dcgm" if d.get("dcgm_url") else "auto")
    return d


def _resolve_cmdb(c: CmdbOverride | dict) -> dict:
    d = c.model_dump() if isinstance(c, BaseModel) else dict(c)
    for key in ("fields", "refresh_seconds"):  # unset: the resolved form's default
        if d.get(key) is None:
            d.pop(key, None)
    if d.get("source") is None:
        d["source"] = "file" if d.get("path") else "url" if d.get("url") else "none"
    return d


def _read_secret_file(path: Path, what: str) -> SecretStr:
    """The secret a file holds (stripped). Refused when others may read the file (group or world bits set): a
    secret others can read is already leaked, and saying so is better than using it."""
    try:
        mode = path.stat().st_mode
        if mode & 0o077:
            raise ConfigError(f"{path}: the {what} file may be read by others (mode {stat.S_IMODE(mode):04o}); "
                              f"make it owner-only: chmod 600 {path}")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else type(err).__name__
        raise ConfigError(f"{path}: cannot read the {what} file: {reason}") from None
    secret = text.strip()
    if not secret:
        raise ConfigError(f"{path}: the {what} file is empty")
    return SecretStr(secret)


class EffectiveSettings(BaseModel):
    """The settings for one Kubernetes context: top level merged with its section."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    context: str | None = Field(description="Kubernetes context (None: the kubeconfig's current).")
    kubeconfig: str | None
    namespace: str | None = Field(description="None: the context's namespace.")
    all_namespaces: bool
    read_only: bool
    refresh_seconds: float
    demo_scale: DemoScale
    theme: str
    keys: dict[str, str]
    wall: bool
    no_color: bool
    metrics: MetricsSettings
    alertmanager_url: str | None
    cmdb: CmdbSettings
    notebooks: NotebooksSettings = Field(default_factory=NotebooksSettings)
    quota: QuotaSettings = Field(default_factory=QuotaSettings)
    logs: LogsSettings = Field(default_factory=LogsSettings)
    alerts: AlertsSettings = Field(default_factory=AlertsSettings)

    linkis: LinkisSettings = Field(default_factory=LinkisSettings)

    # the older flat names, read from [linkis]
    @property
    def linkis_url(self) -> str | None:
        return self.linkis.url

    @property
    def linkis_user(self) -> str | None:
        return self.linkis.user

    def resolve_linkis_token(self) -> SecretStr | None:
        """The Linkis token (:meth:`LinkisSettings.resolve_token`)."""
        return self.linkis.resolve_token()

    def resolve_linkis_password(self) -> SecretStr | None:
        """The Linkis password (:meth:`LinkisSettings.resolve_password`)."""
        return self.linkis.resolve_password()


# ------------------------------------------------------------------------------------ settings
@dataclass
class _Layers:
    """Raw values per layer, kept to word errors and to merge contexts by precedence."""

    file: Path | None = None
    file_data: dict = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    env_data: dict = field(default_factory=dict)
    cli_data: dict = field(default_factory=dict)


_LOADING: ContextVar[_Layers | None] = ContextVar("prophecis_tui_config_loading", default=None)


class _DictSource(PydanticBaseSettingsSource):
    """A settings source that returns a dict computed beforehand."""

    def __init__(self, settings_cls: type[BaseSettings], data: dict) -> None:
        super().__init__(settings_cls)
        self._data = data

    def get_field_value(self, field, field_name):  # pragma: no cover - not used
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        return self._data


class _MappingEnvSource(EnvSettingsSource):
    """pydantic-settings' env source reading a given mapping instead of ``os.environ``."""

    def __init__(self, settings_cls: type[BaseSettings], env: Mapping[str, str]) -> None:
        self._mapping = env
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        from pydantic_settings.sources.utils import parse_env_vars

        return parse_env_vars(
            {k: v for k, v in self._mapping.items() if isinstance(v, str)},
            self.case_sensitive,
            self.env_ignore_empty,
            self.env_parse_none_str,
        )


class Settings(BaseSettings):
    """prophecis-tui settings. Build with :func:`load_settings`.

    ``Settings()`` alone applies defaults and ``PROPHECIS_TUI_*`` from ``os.environ`` (no file).
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        case_sensitive=False,
        env_ignore_empty=True,
        extra="forbid",
        validate_default=True,
    )

    kubeconfig: PathList | None = Field(
        None,
        description="Kubeconfig file (or a list joined by ':' like $KUBECONFIG). "
        "None: $KUBECONFIG, else ~/.kube/config.",
    )
    context: NonEmpty | None = Field(
        None, description="Kubernetes context to open. None: the kubeconfig's current context."
    )
    namespace: NamespaceName | None = Field(
        None, description="Namespace to open. None: the context's namespace."
    )
    all_namespaces: bool = Field(False, description="Start with every namespace shown.")
    read_only: bool = Field(
        False, description="Hide and refuse every mutating action (also --read-only)."
    )
    refresh_seconds: RefreshSeconds = Field(
        0.1,
        description="Minimum interval between UI update batches, in seconds (0.05..5).",
    )
    demo_scale: DemoScale = Field(
        "small", description="Size of the simulated platform for --demo: small, large, xlarge."
    )
    ui: UiSettings = Field(default_factory=UiSettings, description="Look and keys.")
    metrics: MetricsOverride = Field(
        default_factory=MetricsOverride, description="Where GPU metrics come from."
    )
    alertmanager_url: Url | None = Field(
        None, description="Alertmanager base URL, e.g. http://alertmanager.monitoring:9093."
    )
    linkis_url: Url | None = Field(
        None, description="Older spelling of [linkis] url (the Linkis gateway base URL)."
    )
    linkis_user: NonEmpty | None = Field(
        None, description="Older spelling of [linkis] user."
    )
    linkis_token_file: UserPath | None = Field(
        None, description="File holding the Linkis token (Token-Code); keep it mode 0600."
    )
    linkis_password_file: UserPath | None = Field(
        None, description="File holding the Linkis password, for password login."
    )
    linkis_token: SecretStr | None = Field(
        None, description="Linkis token. Environment only: PROPHECIS_TUI_LINKIS_TOKEN."
    )
    linkis_password: SecretStr | None = Field(
        None, description="Linkis password. Environment only: PROPHECIS_TUI_LINKIS_PASSWORD."
    )
    cmdb: CmdbOverride = Field(
        default_factory=CmdbOverride, description="Where CMDB business-system data comes from."
    )
    notebooks: NotebooksSettings = Field(
        default_factory=NotebooksSettings,
        description="The notebook form's images and default workspace, and notebook URLs.",
    )
    quota: QuotaSettings = Field(
        default_factory=QuotaSettings,
        description="Where each tenant's GPU max is kept on its quota.",
    )
    logs: LogsSettings = Field(
        default_factory=LogsSettings,
        description="The log screen: buffer size, and the since window and tail a log view starts with.",
    )
    alerts: AlertsSettings = Field(
        default_factory=AlertsSettings,
        description="Alert sources (Alertmanagers, events, platform rules), notification and thresholds.",
    )
    linkis: LinkisOverride = Field(
        default_factory=LinkisOverride,
        description="The Linkis gateway: URL, user and auth, the submit form's engines, creator and queue.",
    )
    contexts: dict[NonEmpty, ContextSettings] = Field(
        default_factory=dict,
        description="Per-Kubernetes-context overrides, [contexts.<name>].",
    )

    _no_color: bool = PrivateAttr(default=False)
    _layers: _Layers = PrivateAttr(default_factory=_Layers)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        layers = _LOADING.get()
        if layers is None:
            return (init_settings, env_settings)
        return (
            init_settings,
            _DictSource(settings_cls, layers.env_data),
            _DictSource(settings_cls, layers.file_data),
        )

    def model_post_init(self, context: Any) -> None:
        layers = _LOADING.get()
        if layers is not None:
            self._layers = layers
            self._no_color = bool(layers.env.get("NO_COLOR"))
        else:
            self._no_color = bool(os.environ.get("NO_COLOR"))

    # ------------------------------------------------------------------------------ queries
    @property
    def no_color(self) -> bool:
        """True when ``NO_COLOR`` is set to a non-empty value (https://no-color.org)."""
        return self._no_color

    @property
    def config_file(self) -> Path | None:
        """The TOML file these settings were read from (None: defaults only)."""
        return self._layers.file

    def _rank(self, path: tuple[str, ...]) -> int:
        """Which layer set ``path``: 3 command line, 2 environment, 1 file, 0 default."""
        for rank, data in ((3, self._layers.cli_data), (2, self._layers.env_data),
                           (1, self._layers.file_data)):
            if _has_path(data, path):
                return rank
        return 0

    def _context_key(self, name: str | None) -> str | None:
        if name is None:
            return None
        if name in self.contexts:
            return name
        # Environment variable names are case-insensitive (stored lower-cased).
        folded = [k for k in self.contexts if k.casefold() == name.casefold()]
        return folded[0] if len(folded) == 1 else None

    def for_context(self, name: str | None = None) -> EffectiveSettings:
        """Merge the top level with ``[contexts.<name>]`` (``name`` None: ``self.context``).

        A context without a section gets the top level. Raises :class:`ConfigError` when the
        merged result is inconsistent (e.g. ``cmdb.source = "file"`` without ``cmdb.path``).
        """
        ctx_name = name if name is not None else self.context
        return self._merge(ctx_name, self._context_key(ctx_name))

    def _linkis_layer(self, flat: Any, section: LinkisOverride,
                      base: tuple[str, ...]) -> tuple[dict[str, Any], dict[str, int]]:
        """One level's Linkis keys (the top level, or a context's section): ``[linkis]`` with the older flat
        ``linkis_*`` keys folded in, each with the rank of the layer that set it; of a key given both ways the
        higher layer wins (an environment PROPHECIS_TUI_LINKIS_TOKEN over a file's [linkis] token), else the
        section."""
        values: dict[str, Any] = {}
        ranks: dict[str, int] = {}
        for attr in type(section).model_fields:
            value = getattr(section, attr)
            rank = self._rank(base + ("linkis", attr)) if value is not None else -1
            old = next((f for f, k in LINKIS_FLAT_KEYS.items() if k == attr), None)
            if old is not None and getattr(flat, old) is not None:
                old_rank = self._rank(base + (old,))
                if value is None or old_rank > rank:
                    value, rank = getattr(flat, old), old_rank
            if value is not None:
                values[attr], ranks[attr] = value, rank
        return values, ranks

    def _merge(self, ctx_name: str | None, key: str | None) -> EffectiveSettings:
        section = self.contexts.get(key) if key is not None else None

        values: dict[str, Any] = {
            "context": ctx_name,
            "kubeconfig": self.kubeconfig,
            "namespace": self.namespace,
            "all_namespaces": self.all_namespaces,
            "read_only": self.read_only or self.ui.wall,
            "refresh_seconds": self.refresh_seconds,
            "demo_scale": self.demo_scale,
            "theme": self.ui.theme,
            "keys": dict(self.ui.keys),
            "wall": self.ui.wall,
            "no_color": self.no_color,
            "alertmanager_url": self.alertmanager_url,
        }
        linkis, linkis_rank = self._linkis_layer(self, self.linkis, ())
        metrics = self.metrics.model_dump(exclude_unset=False)
        cmdb = self.cmdb.model_dump(exclude_unset=False)
        notebooks = self.notebooks.model_dump()
        quota = self.quota.model_dump()
        alerts = self.alerts.model_dump()
        # the legacy top-level alertmanager_url is one more Alertmanager of the list
        urls = [*self.alerts.alertmanagers, *([self.alertmanager_url] if self.alertmanager_url else [])]

        if section is not None:
            base = ("contexts", key)

            def wins(top: tuple[str, ...], ctx: tuple[str, ...]) -> bool:
                return self._rank(base + ctx) >= self._rank(top)

            if section.read_only:
                values["read_only"] = True  # a lock: never lifted by a context
            simple = {
                "namespace": ("namespace",),
                "refresh_seconds": ("refresh_seconds",),
                "theme": ("ui", "theme"),
                "alertmanager_url": ("alertmanager_url",),
            }
            for attr, top_path in simple.items():
                value = getattr(section, attr)
                if value is not None and wins(top_path, (attr,)):
                    values[attr] = value
            for sub, target in (("metrics", metrics), ("cmdb", cmdb), ("notebooks", notebooks),
                                ("quota", quota), ("alerts", alerts)):
                override = getattr(section, sub)
                for attr in type(override).model_fields:
                    value = getattr(override, attr)
                    if value is not None and wins((sub, attr), (sub, attr)):
                        target[attr] = value
            # [contexts.X.linkis] (and the context's flat linkis_* keys) over the top level's, key by key
            ctx_linkis, ctx_rank = self._linkis_layer(section, section.linkis, base)
            for attr, value in ctx_linkis.items():
                if ctx_rank[attr] >= linkis_rank.get(attr, 0):
                    linkis[attr] = value
            # a context that names its own Alertmanagers (either key) does not use the top level's
            own_list = section.alerts.alertmanagers is not None and wins(("alerts", "alertmanagers"),
                                                                          ("alerts", "alertmanagers"))
            own_url = section.alertmanager_url is not None and wins(("alertmanager_url",), ("alertmanager_url",))
            if own_list or own_url:
                urls = [*(section.alerts.alertmanagers or [] if own_list else []),
                        *([section.alertmanager_url] if own_url else [])]

        values["metrics"] = _resolve_metrics(metrics)
        values["cmdb"] = _resolve_cmdb(cmdb)
        values["notebooks"] = notebooks
        values["quota"] = quota
        values["logs"] = self.logs.model_dump()
        alerts["alertmanagers"] = urls
        values["alerts"] = alerts
        values["linkis"] = linkis
        where = f"contexts.{_dotted((ctx_name,))}: " if section is not None else ""
        try:
            return EffectiveSettings(**values)
        except ValidationError as err:
            problems = []
            for e in err.errors(include_url=False, include_input=False):
                msg = e["msg"].removeprefix("Value error, ")
                prefix = f"{self.config_file}: " if self.config_file else ""
                problems.append(f"{prefix}{where}{msg}")
            raise ConfigError(*problems) from None


def _has_path(data: Any, path: tuple[str, ...]) -> bool:
    for part in path:
        if not isinstance(data, Mapping) or part not in data:
            return False
        data = data[part]
    return True


# ------------------------------------------------------------------------------------- paths
def _env(env: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if env is None else env


def _home(env: Mapping[str, str]) -> Path:
    home = env.get("HOME")
    return Path(home) if home else Path.home()


def _xdg(env: Mapping[str, str], var: str, fallback: tuple[str, ...]) -> Path:
    value = env.get(var)
    # The XDG spec: relative values are invalid and must be ignored.
    if value and os.path.isabs(value):
        return Path(value)
    return _home(env).joinpath(*fallback)


def config_path(env: Mapping[str, str] | None = None) -> Path:
    """The config file to read: ``$PROPHECIS_TUI_CONFIG``, else
    ``$XDG_CONFIG_HOME/prophecis-tui/config.toml`` (``~/.config/...``). Not checked to exist."""
    env = _env(env)
    named = env.get(CONFIG_ENV_VAR)
    if named:
        return Path(named).expanduser()
    return _xdg(env, "XDG_CONFIG_HOME", (".config",)) / APP_NAME / CONFIG_FILE_NAME


def data_dir(create: bool = False, env: Mapping[str, str] | None = None) -> Path:
    """``$XDG_DATA_HOME/prophecis-tui`` (``~/.local/share/prophecis-tui``).

    With ``create``, make it (and missing parents) with mode 0700, and tighten an existing
    one that others can read. Raises :class:`ConfigError` when that fails.
    """
    path = _xdg(_env(env), "XDG_DATA_HOME", (".local", "share")) / APP_NAME
    if create:
        try:
            missing = [p for p in (path, *path.parents) if not p.exists()]
            for p in reversed(missing):
                p.mkdir(mode=0o700, exist_ok=True)
                os.chmod(p, 0o700)  # mkdir's mode is filtered by the umask
            st = path.stat()
            if not stat.S_ISDIR(st.st_mode):
                raise ConfigError(f"{path}: exists and is not a directory")
            if st.st_mode & 0o077 and st.st_uid == os.getuid():
                os.chmod(path, 0o700)
        except OSError as err:
            raise ConfigError(f"{path}: cannot create the data directory: "
                              f"{err.strerror or err}") from None
    return path


# ---------------------------------------------------------------------------------- loading
_TOML_AT = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_TOML_END = re.compile(r"\s*\(at end of document\)\s*$")
_IDENT = re.compile(r"[A-Za-z0-9_-]+")


def _dotted(loc: tuple[Any, ...]) -> str:
    parts = []
    for p in loc:
        if p == "[key]":
            continue
        s = str(p)
        parts.append(s if _IDENT.fullmatch(s) else '"' + s.replace('"', '\\"') + '"')
    return ".".join(parts)


def _read_toml(path: Path, why: str | None) -> dict:
    """Parse the file; ``why`` says who named it (None: the default location, may be absent)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        if why is None:
            return {}
        raise ConfigError(f"{path}: config file not found ({why})") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a config file") from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot read: {err.strerror or err}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise ConfigError(f"{path}, line {line}: not UTF-8 text") from None
    return _parse_toml(text, path)


def _parse_toml(text: str, where: Path | str) -> dict:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        msg = str(err)
        if m := _TOML_AT.search(msg):
            what = msg[: m.start()]
            raise ConfigError(
                f"{where}, line {m.group(1)}: {what} (column {m.group(2)})"
            ) from None
        if m := _TOML_END.search(msg):
            line = text.count("\n") + (0 if text.endswith("\n") else 1)
            raise ConfigError(f"{where}, line {max(line, 1)}: {msg[: m.start()]} "
                              "(at end of file)") from None
        raise ConfigError(f"{where}: {msg}") from None
    except RecursionError:
        raise ConfigError(f"{where}: nested too deeply") from None


def _refuse_secrets(data: dict, where: str, how: str) -> None:
    """Secrets may come from the environment only, never from the file or the command line."""
    found = [k for k in SECRET_KEYS if k in data]
    contexts = data.get("contexts")
    if isinstance(contexts, Mapping):
        for name, sect in contexts.items():
            if isinstance(sect, Mapping):
                found += [f"contexts.{_dotted((name,))}.{k}" for k in SECRET_KEYS if k in sect]
    if found:
        raise ConfigError(*(
            f"{where}{key}: secrets are not accepted {how}; set "
            f"{ENV_PREFIX}{key.split('.')[-1].upper()} in the environment or use "
            f"{key.split('.')[-1]}_file" for key in sorted(found)
        ))


def _file_secrets(data: Mapping) -> list[str]:
    """The dotted keys of ``[linkis]`` secrets (top level and contexts) set in a parsed file."""
    found: list[str] = []
    sections: list[tuple[str, Any]] = [("linkis", data.get("linkis"))]
    contexts = data.get("contexts")
    if isinstance(contexts, Mapping):
        sections += [(f"contexts.{_dotted((name,))}.linkis", sect.get("linkis"))
                     for name, sect in contexts.items() if isinstance(sect, Mapping)]
    for where, sect in sections:
        if isinstance(sect, Mapping):
            found += [f"{where}.{k}" for k in LINKIS_SECRET_KEYS if k in sect]
    return found


def _check_file_secrets(data: Mapping, file: Path) -> None:
    """``[linkis] token`` / ``password`` in the config file: only when the file is readable by its owner alone."""
    found = _file_secrets(data)
    if not found:
        return
    try:
        mode = file.stat().st_mode
    except OSError as err:
        raise ConfigError(f"{file}: cannot check its permissions: {err.strerror or err}") from None
    if mode & 0o077:
        raise ConfigError(*(f"{file}: {key}: a secret in the config file needs the file to be readable by its "
                            f"owner only (mode {stat.S_IMODE(mode):04o} lets others read it): chmod 600 {file}, "
                            f"or use the environment or a token/password file" for key in found))


def _drop_none(data: Mapping) -> dict:
    return {k: _drop_none(v) if isinstance(v, Mapping) else v
            for k, v in data.items() if v is not None}


def _env_var_for(loc: tuple[Any, ...], env: Mapping[str, str]) -> str | None:
    names = {k.upper(): k for k in env if k.upper().startswith(ENV_PREFIX)}
    parts = [str(p) for p in loc if p != "[key]"]
    for i in range(len(parts), 0, -1):
        candidate = (ENV_PREFIX + "__".join(parts[:i])).upper()
        if candidate in names:
            return names[candidate]
    return None


def _word_validation_error(err: ValidationError, layers: _Layers) -> ConfigError:
    problems = []
    for e in err.errors(include_url=False, include_input=False):
        loc = tuple(e["loc"])
        key = _dotted(loc) or "settings"
        msg = e["msg"].removeprefix("Value error, ")
        path = tuple(str(p) for p in loc if p != "[key]")
        if _has_path(layers.cli_data, path):
            problems.append(f"{key}: {msg} (from the command line)")
        elif _has_path(layers.env_data, path) or _has_path(
            layers.env_data, tuple(p.lower() for p in path)
        ):
            var = _env_var_for(loc, layers.env)
            problems.append(f"{key}: {msg} (from environment variable {var or ENV_PREFIX + '*'})")
        elif layers.file is not None:
            problems.append(f"{layers.file}: {key}: {msg}")
        else:
            problems.append(f"{key}: {msg}")
    return ConfigError(*problems)


def _env_data(env: Mapping[str, str]) -> dict:
    try:
        return _MappingEnvSource(Settings, env)()
    except SettingsError as err:
        msg = str(err)
        m = re.search(r'field "([^"]+)"', msg)
        if m:
            prefix = (ENV_PREFIX + m.group(1)).upper()
            var = next((k for k in sorted(env) if k.upper() == prefix), None) or next(
                (k for k in sorted(env) if k.upper().startswith(prefix + "__")), None
            )
            if var:
                key = var[len(ENV_PREFIX):].lower().replace("__", ".")
                raise ConfigError(
                    f"{key}: not valid JSON (from environment variable {var})"
                ) from None
        raise ConfigError(f"environment: {msg}") from None


def load_settings(
    path: str | os.PathLike[str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Read settings: defaults < TOML file < ``PROPHECIS_TUI_*`` < ``overrides``.

    ``path``: the config file (e.g. ``--config``); default: :func:`config_path`.
    ``overrides``: CLI flags as a nested dict, e.g. ``{"read_only": True, "ui": {"wall": True}}``;
    ``None`` values are ignored (a flag not given). ``{"no_color": True}`` forces no colour.
    ``env``: the environment (default ``os.environ``).

    Every context section is checked too, so a broken ``[contexts.x]`` fails at start-up.
    Raises :class:`ConfigError` (one line) for every problem.
    """
    env = dict(_env(env))
    cli = _drop_none(overrides or {})
    force_no_color = bool(cli.pop("no_color", False))
    _refuse_secrets(cli, "", "on the command line")
    if _file_secrets(cli):
        raise ConfigError(*(f"{key}: secrets are not accepted on the command line; set them in the environment "
                            f"(PROPHECIS_TUI_LINKIS__TOKEN / __PASSWORD) or use a token/password file"
                            for key in _file_secrets(cli)))

    if path is not None:
        file, why = Path(path).expanduser(), "named on the command line"
    elif env.get(CONFIG_ENV_VAR):
        file, why = config_path(env), f"named by {CONFIG_ENV_VAR}"
    else:
        file, why = config_path(env), None
    file_data = _read_toml(file, why)
    _refuse_secrets(file_data, f"{file}: ", "in the config file")
    _check_file_secrets(file_data, file)

    layers = _Layers(
        file=file if (file_data or why is not None or file.exists()) else None,
        file_data=file_data,
        env=env,
        env_data=_env_data(env),
        cli_data=cli,
    )
    token = _LOADING.set(layers)
    try:
        settings = Settings(**cli)
    except ValidationError as err:
        raise _word_validation_error(err, layers) from None
    except SettingsError as err:  # pragma: no cover - sources are pre-parsed
        raise ConfigError(f"settings: {err}") from None
    finally:
        _LOADING.reset(token)
    if force_no_color:
        settings._no_color = True

    settings.for_context(None)  # the start-up context
    for name in settings.contexts:
        settings._merge(name, name)
    return settings
