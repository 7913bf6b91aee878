"""Data policies where data leaves the data layer: who is reading (:class:`Reader`), the
:class:`~shipyard.security.data_policy.Decision` for a dataset version or a feature view, and
reads that apply it (columns hidden and masked, rows filtered, forbidden requests refused).

The server builds a :class:`Reader` from the request's principal (``server/data_access.py``); the
SDK's local paths build one for ``settings.user`` with :func:`local_reader` — the same decision
either way. A client of a team server that shapes feature-view rows itself (files it reads, its
online store, a prediction log) asks the server for that decision (:class:`ServerViewReader`,
:func:`view_reader`); masks are then keyed by the client's own salt (the values are its own).

A local SQLite file with no users belongs to its user (as the server's ``--no-auth`` mode does):
that user holds every permission, ``data:read:pii`` included, and only the policies naming it
restrict it. A shared database with users decides from their bindings.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from shipyard.core.errors import PermissionDeniedError
from shipyard.data.rowfilter import filter_columns, parse_row_filter
from shipyard.metadata.datasets import DatasetVersion
from shipyard.metadata.policies import PolicyStore
from shipyard.security.data_policy import Decision, Facts, apply_columns, decide, refuse_hidden
from shipyard.security.policy import SERVER_SCOPE, Access

if TYPE_CHECKING:
    import pyarrow as pa

    from shipyard.tracking.stores import Stores

SALT_FILE = "data-policy.salt"


def policy_salt(home: Path) -> bytes:
    """The key of ``mask:hash`` (32 random bytes in ``<home>/data-policy.salt``, made on first
    use, readable by its owner only)."""
    path = home / SALT_FILE
    try:
        data = path.read_bytes()
        if len(data) >= 32:
            return data
    except FileNotFoundError:
        pass
    home.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(secrets.token_bytes(32))
    try:
        os.link(tmp, path)  # the first writer wins; everyone reads its key
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_bytes()


@dataclass(frozen=True)
class Reader:
    """Who reads: name, groups, (role, scope) bindings, token id and :class:`Access` (None: the
    owner of a local file, who holds every permission), with the policies that may bind it."""

    user: str
    policies: PolicyStore
    access: Access | None = None
    groups: frozenset[str] = frozenset()
    roles: tuple[tuple[str, str], ...] = ()
    token_id: str | None = None

    def facts(self, scope: str) -> Facts:
        pii = self.access is None or self.access.can("data:read:pii", scope)
        return Facts(self.user, self.groups, self.roles, self.token_id, pii)

    def decision(self, kind: str, name: str, columns: Sequence[Mapping[str, Any]], scope: str) -> Decision:
        found = self.policies.list_policies(target_kind=kind, target=name)
        return decide(self.facts(scope), found, columns, scope)


class PolicyReader(Protocol):
    """Anything that decides what its principal may see of a target: :class:`Reader` (the policies
    at hand) or :class:`ServerViewReader` (the server's answer)."""

    def decision(self, kind: str, name: str, columns: Sequence[Mapping[str, Any]], scope: str) -> Decision:
        """The decision for target ``name`` of ``kind`` (dataset | feature_view)."""
        ...


class ServerViewReader:
    """Feature-view decisions for a client of a team server: the server decides for the token's
    principal (``GET /api/v1/features/views/{name}/access``, the same :meth:`Reader.decision`)
    and the client applies it to the rows it reads itself (a view over its own files, its online
    store, a prediction log). Asked once per view per reader."""

    def __init__(self, ask: Callable[[str, str | None], Mapping[str, Any]], project: str | None) -> None:
        self._ask = ask  # RestFeatureRecords.read_access
        self._project = project
        self._found: dict[str, Decision] = {}

    def decision(self, kind: str, name: str, columns: Sequence[Mapping[str, Any]], scope: str) -> Decision:
        if kind != "feature_view":  # datasets over a server are shaped by the server's data route
            raise PermissionDeniedError(f"the server decides reads of {kind} {name!r}; read it through it")
        if name not in self._found:
            body = self._ask(name, self._project)
            self._found[name] = Decision(
                frozenset(body["hidden"]), dict(body["masked"]), body.get("row_filter") or None
            )
        return self._found[name]


def view_reader(stores: Stores) -> PolicyReader | None:
    """Who reads feature views through ``stores``: the local reader over a SQL store, the server's
    decisions over a team server; None when neither applies."""
    from shipyard.metadata.features import open_feature_records
    from shipyard.metadata.rest.features import RestFeatureRecords

    local = local_reader(stores)
    if local is not None:
        return local
    records = open_feature_records(stores.metadata)
    if isinstance(records, RestFeatureRecords):
        return ServerViewReader(records.read_access, stores.settings.project)
    return None


def scope_of(project: str | None) -> str:
    return SERVER_SCOPE if project is None else f"project:{project}"


def local_reader(stores: Stores) -> Reader | None:
    """The reader for the SDK's local paths (``settings.user`` over a SQL store); None over a
    server (the server decides there)."""
    from shipyard.metadata.sql.store import SqlMetadataStore

    if not isinstance(stores.metadata.backing_store(), SqlMetadataStore):
        return None
    from shipyard.metadata.policies import open_policy_store
    from shipyard.metadata.security import open_security_store
    from shipyard.security.policy import resolve_access

    user = stores.settings.user
    policies = open_policy_store(stores.metadata)
    security = open_security_store(stores.metadata)
    if not security.list_users(limit=1):
        return Reader(user, policies)  # a file with no users belongs to its user
    pairs, roles = security.access_rows(user)
    groups = frozenset(g.name for g in security.list_groups(limit=10_000) if user in g.members)
    access = resolve_access(user, pairs, roles, private_projects=security.private_projects())
    return Reader(user, policies, access, groups, tuple(pairs))


# ---- a dataset version under a decision -----------------------------------------------------------
def redact_stats(version: DatasetVersion, decision: Decision) -> DatasetVersion:
    """The version without the statistics (min, max, mean: values) of hidden or masked columns;
    under a row filter without any (they describe rows the reader may not see)."""
    if decision.row_filter is not None:
        return replace(version, stats={}) if version.stats else version
    guarded = decision.hidden | decision.masked.keys()
    if not guarded & version.stats.keys():
        return version
    return replace(version, stats={k: v for k, v in version.stats.items() if k not in guarded})


@dataclass(frozen=True)
class Plan:
    """How to read a version for one request: the columns to read, the filter (the request's AND
    the policies'), and the columns to answer."""

    read_columns: list[str] | None
    where: str | None
    answer: list[str]
    decision: Decision = field(default_factory=Decision)


def plan_read(
    version: DatasetVersion, decision: Decision, columns: Sequence[str] | None, where: str | None
) -> Plan:
    """Check the request against the decision (a hidden column selected, a hidden or masked one
    filtered: PermissionDeniedError) and say what to read."""
    names = [str(c["name"]) for c in version.columns]
    filtered = filter_columns(where) if where is not None else set()
    refuse_hidden(decision, selected=columns or (), filtered=filtered, what=version.uri)
    answer = [c for c in (columns if columns is not None else names) if c not in decision.hidden]
    policy_where = decision.row_filter
    combined = (
        where if policy_where is None else policy_where if where is None else f"({where}) and {policy_where}"
    )
    if combined is not None:
        parse_row_filter(combined)  # a one-line error before any file is fetched
    return Plan(None if columns is None else answer, combined, answer, decision)


def shape(table: pa.Table, plan: Plan, salt: bytes) -> pa.Table:
    """The read table as answered: the requested columns, hidden ones dropped, masked ones masked."""
    kept = [c for c in plan.answer if c in table.column_names]
    return apply_columns(table.select(kept), plan.decision, salt)


def shape_batches(batches: Iterator[pa.RecordBatch], plan: Plan, salt: bytes) -> Iterator[pa.RecordBatch]:
    import pyarrow as pa

    for batch in batches:
        yield from shape(pa.Table.from_batches([batch]), plan, salt).to_batches()


def refuse_raw_files(version: DatasetVersion, decision: Decision) -> None:
    """A restricted version's files are never handed out as they are (as a folder or blobs)."""
    if decision.restricted:
        raise PermissionDeniedError(
            f"{version.uri} is restricted for you by a data policy: its files cannot be copied as "
            "they are; load it as a table (output='pandas' or 'arrow')"
        )
