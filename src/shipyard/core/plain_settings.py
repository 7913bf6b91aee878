"""The settings of a plain environment, read without pydantic (issue 20: ``shipyard run`` start-up).

Importing pydantic and building :class:`~shipyard.core.settings.Settings` costs about 0.13 s of
every command. :func:`read_plain_settings` answers the common case with the standard library:
no ``SHIPYARD_*`` variable, or only those in :data:`PLAIN_VARIABLES` holding plainly valid values
(a folder, a name, a positive decimal number, ``store``/``env``). Anything else (another variable,
a value pydantic might read another way or refuse) returns None: the caller uses
:func:`~shipyard.core.settings.load_settings`, which validates and reports errors.

:class:`PlainSettings` has every field and property of ``Settings`` with the same defaults and
precedence (the variables over the defaults); ``tests/core/test_plain_settings.py`` compares the
two over a matrix of environments and checks that the field lists agree.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from shipyard.core.environ import current_user, default_home, shipyard_variables

if TYPE_CHECKING:
    from shipyard.core.settings import Settings

#: Settings' fields, in declaration order (a test checks them against Settings.model_fields)
FIELD_NAMES = (
    "home", "uri", "artifacts", "user", "namespace", "run_namespace", "token", "s3_endpoint_url",
    "heartbeat_interval_s", "heartbeat_timeout_s", "metric_flush_interval_s", "metric_batch_size",
    "secrets_key", "project", "environment", "branch", "step_secrets", "secrets_key_file",
    "oidc_issuer", "oidc_client_id", "oidc_client_secret_file", "oidc_username_claim",
    "oidc_auto_create", "ci_trust_file", "public_url", "unpack_max_bytes", "online_store",
    "db_timeout_s", "unpack_max_members", "code_package_max_bytes",
)  # fmt: skip

_DECIMAL = re.compile(r"(?:0|[1-9][0-9]{0,8})(?:\.[0-9]{1,6})?")
_WHOLE = re.compile(r"[1-9][0-9]{0,14}")
_TEXT = ("user", "namespace", "run_namespace", "artifacts")
_NUMBERS = ("heartbeat_interval_s", "heartbeat_timeout_s", "metric_flush_interval_s")
_COUNTS = ("metric_batch_size", "code_package_max_bytes")
#: the SHIPYARD_* variables read here; any other one sends the caller to load_settings
PLAIN_VARIABLES = frozenset({"home", *_TEXT, *_NUMBERS, *_COUNTS, "step_secrets"})


class PlainSettings:
    """Settings' values and properties as plain attributes (see the module doc)."""

    def __init__(self, **values: Any) -> None:
        self.home: Path = values.pop("home", None) or default_home()
        self.uri: str | None = None
        self.artifacts: str | None = values.pop("artifacts", None)
        self.user: str = values.pop("user", None) or current_user()
        self.namespace: str | None = values.pop("namespace", None)
        self.run_namespace: str | None = values.pop("run_namespace", None)
        self.token: str | None = None
        self.s3_endpoint_url: str | None = None
        self.heartbeat_interval_s: float = values.pop("heartbeat_interval_s", 10.0)
        self.heartbeat_timeout_s: float = values.pop("heartbeat_timeout_s", 60.0)
        self.metric_flush_interval_s: float = values.pop("metric_flush_interval_s", 1.0)
        self.metric_batch_size: int = values.pop("metric_batch_size", 5000)
        self.secrets_key: Any = None
        self.project: str | None = None
        self.environment: str | None = None
        self.branch: str | None = None
        self.step_secrets: str = values.pop("step_secrets", "store")
        self.secrets_key_file: Path | None = None
        self.oidc_issuer: str | None = None
        self.oidc_client_id: str | None = None
        self.oidc_client_secret_file: Path | None = None
        self.oidc_username_claim: str = "preferred_username"
        self.oidc_auto_create: bool = False
        self.ci_trust_file: Path | None = None
        self.public_url: str | None = None
        self.unpack_max_bytes: int = 4 << 30
        self.online_store: str | None = None
        self.db_timeout_s: float = 30.0
        self.unpack_max_members: int = 100_000
        self.code_package_max_bytes: int = values.pop("code_package_max_bytes", 64 << 20)
        if values:
            raise TypeError(f"not plain settings: {sorted(values)}")

    def as_settings(self) -> Settings:
        """This object where a ``Settings`` is expected: it has every attribute a reader uses."""
        return cast("Settings", self)

    def values(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in FIELD_NAMES}

    @property
    def write_namespace(self) -> str:
        return self.run_namespace or self.user_namespace  # no branch here

    @property
    def metadata_uri(self) -> str:
        return f"sqlite:///{self.home / 'shipyard.db'}"

    @property
    def online_store_uri(self) -> str:
        return f"sqlite:///{self.home / 'online.db'}"

    @property
    def artifact_root(self) -> str:
        return self.artifacts or str(self.home / "artifacts")

    @property
    def user_namespace(self) -> str:
        return f"user:{self.user}"

    @property
    def read_namespace(self) -> str:
        return self.namespace or self.user_namespace  # no project here


def read_plain_settings(variables: Mapping[str, str] | None = None) -> PlainSettings | None:
    """The settings of these ``SHIPYARD_*`` variables (default: the environment's, keyed as
    :func:`~shipyard.core.environ.shipyard_variables` keys them), or None when
    :func:`~shipyard.core.settings.load_settings` must read them (see the module doc)."""
    found = shipyard_variables() if variables is None else dict(variables)
    values: dict[str, Any] = {}
    for name, text in found.items():
        if name not in PLAIN_VARIABLES or not text or text != text.strip() or not text.isprintable():
            return None
        if name == "home":
            values[name] = Path(text)
        elif name in _TEXT:
            values[name] = text
        elif name in _NUMBERS:
            if not _DECIMAL.fullmatch(text) or not float(text) > 0:
                return None
            values[name] = float(text)
        elif name in _COUNTS:
            if not _WHOLE.fullmatch(text):
                return None
            values[name] = int(text)
        elif text in ("store", "env"):  # step_secrets
            values[name] = text
        else:
            return None
    return PlainSettings(**values)
