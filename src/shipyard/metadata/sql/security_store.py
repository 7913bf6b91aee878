"""``SqlSecurityStore``: principals, roles, bindings, tokens and the audit chain in the SQL database.

It borrows the :class:`SqlMetadataStore`'s transactions (same engine, same error translation).
Audit events are appended under a lock (``BEGIN IMMEDIATE`` on SQLite, an advisory transaction
lock on Postgres), so concurrent server processes extend one chain.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, delete, insert, select, text, update

from shipyard.core.audit_chain import GENESIS, link
from shipyard.core.errors import AlreadyExistsError, ConflictError, NotFoundError
from shipyard.core.names import canonical_name, validate_user_name
from shipyard.metadata.security import (
    AuditEvent,
    Binding,
    CustomRole,
    Group,
    Project,
    SecurityStore,
    TokenRecord,
    User,
)
from shipyard.metadata.sql.security_schema import (
    api_tokens,
    audit_events,
    bindings,
    custom_roles,
    group_members,
    groups,
    projects,
    users,
)
from shipyard.metadata.sql.store import BorrowedTransactions

_U = users.c
_T = api_tokens.c
_E = audit_events.c
_B = bindings.c
_G = groups.c
_GM = group_members.c
_R = custom_roles.c
_P = projects.c
_AUDIT_LOCK = 0x5348495059415244  # "SHIPYARD": the Postgres advisory lock that orders audit appends
_BOOTSTRAP_LOCK = 0x5348495059414442  # serializes the first-admin bootstrap of concurrent starts


def _user(row: Row[Any]) -> User:
    return User(
        name=row.name,
        created_at=row.created_at,
        kind=row.kind,
        disabled=bool(row.disabled),
        description=row.description,
    )


def _token(row: Row[Any]) -> TokenRecord:
    permissions = row.permissions
    return TokenRecord(
        id=row.id,
        user=row.user,
        name=row.name,
        token_hash=row.token_hash,
        prefix=row.prefix,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        scope=row.scope,
        permissions=tuple(permissions) if permissions is not None else None,
        actions=tuple(row.actions) if row.actions is not None else None,
    )


def _project(row: Row[Any]) -> Project:
    return Project(row.name, bool(row.private), row.created_at, row.created_by, row.description)


def _binding(row: Row[Any]) -> Binding:
    return Binding(
        id=row.id,
        principal_kind=row.principal_kind,
        principal=row.principal,
        role=row.role,
        scope=row.scope,
        created_at=row.created_at,
        created_by=row.created_by,
    )


def _event(row: Row[Any]) -> AuditEvent:
    return AuditEvent(
        at=row.at,
        user=row.user,
        action=row.action,
        target=row.target,
        status=row.status,
        id=row.id,
        scope=row.scope,
        request_id=row.request_id,
        source=row.source,
        detail=row.detail,
        chain=row.chain,
    )


def _insert_user(conn: Connection, user: User) -> None:
    conn.execute(
        insert(users).values(
            name=user.name,
            canonical=canonical_name(user.name),
            kind=user.kind,
            created_at=user.created_at,
            disabled=user.disabled,
            description=user.description,
        )
    )


def _insert_binding(conn: Connection, binding: Binding) -> None:
    conn.execute(
        insert(bindings).values(
            id=binding.id,
            principal_kind=binding.principal_kind,
            principal=binding.principal,
            role=binding.role,
            scope=binding.scope,
            created_at=binding.created_at,
            created_by=binding.created_by,
        )
    )


def _insert_token(conn: Connection, token: TokenRecord) -> None:
    conn.execute(
        insert(api_tokens).values(
            id=token.id,
            user=token.user,
            name=token.name,
            token_hash=token.token_hash,
            prefix=token.prefix,
            created_at=token.created_at,
            expires_at=token.expires_at,
            revoked_at=token.revoked_at,
            scope=token.scope,
            permissions=list(token.permissions) if token.permissions is not None else None,
            actions=list(token.actions) if token.actions is not None else None,
        )
    )


class SqlSecurityStore(BorrowedTransactions, SecurityStore):
    # ---- principals --------------------------------------------------------------------------------
    def create_user(self, name: str, at: datetime, *, kind: str = "user", description: str = "") -> User:
        canonical = canonical_name(validate_user_name(name, new=True))
        with self._write() as conn:
            existing = conn.execute(select(_U.name).where(_U.canonical == canonical)).scalar()
            if existing == name:
                raise AlreadyExistsError(f"user {name!r} already exists")
            if existing is not None:
                raise AlreadyExistsError(
                    f"user {name!r} looks like the existing user {existing!r}; use that name or pick "
                    "one that differs by more than case, spacing or punctuation"
                )
            if conn.execute(select(_G.name).where(_G.name == name)).first() is not None:
                raise AlreadyExistsError(f"{name!r} is a group; pick another name")
            _insert_user(conn, User(name=name, created_at=at, kind=kind, description=description))
        return User(name=name, created_at=at, kind=kind, description=description)

    def bootstrap_first_user(self, user: User, binding: Binding, token: TokenRecord) -> bool:
        with self._write() as conn:
            if conn.dialect.name == "postgresql":  # SQLite: BEGIN IMMEDIATE already serializes
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _BOOTSTRAP_LOCK})
            if conn.execute(select(_U.name).limit(1)).first() is not None:
                return False
            _insert_user(conn, user)
            _insert_binding(conn, binding)
            _insert_token(conn, token)
        return True

    def get_user(self, name: str) -> User:
        with self._read() as conn:
            row = conn.execute(select(users).where(_U.name == name)).first()
        if row is None:
            raise NotFoundError(f"user {name!r} does not exist; `shipyard users list` shows them")
        return _user(row)

    def list_users(
        self, *, kind: str | None = None, limit: int = 1000, after: str | None = None
    ) -> list[User]:
        query = select(users).order_by(_U.name).limit(limit)
        if kind is not None:
            query = query.where(_U.kind == kind)
        if after is not None:
            query = query.where(_U.name > after)
        with self._read() as conn:
            return [_user(r) for r in conn.execute(query)]

    def set_user_disabled(self, name: str, disabled: bool) -> User:
        with self._write() as conn:
            conn.execute(update(users).where(_U.name == name).values(disabled=disabled))
        return self.get_user(name)

    def set_password(self, name: str, password_hash: str | None) -> None:
        with self._write() as conn:
            done = conn.execute(update(users).where(_U.name == name).values(password_hash=password_hash))
            if done.rowcount == 0:
                raise NotFoundError(f"user {name!r} does not exist; `shipyard users list` shows them")

    def password_of(self, name: str) -> tuple[User, str | None] | None:
        with self._read() as conn:
            row = conn.execute(select(users).where(_U.name == name)).first()
        return None if row is None else (_user(row), row.password_hash)

    def create_group(self, name: str, at: datetime, description: str = "") -> Group:
        with self._write() as conn:
            if conn.execute(select(_G.name).where(_G.name == name)).first() is not None:
                raise AlreadyExistsError(f"group {name!r} already exists")
            if conn.execute(select(_U.name).where(_U.name == name)).first() is not None:
                raise AlreadyExistsError(f"{name!r} is a user; pick another name for the group")
            conn.execute(insert(groups).values(name=name, description=description, created_at=at))
        return Group(name=name, created_at=at, description=description)

    def delete_group(self, name: str) -> None:
        with self._write() as conn:
            self._group_row(conn, name)
            conn.execute(delete(bindings).where(_B.principal_kind == "group", _B.principal == name))
            conn.execute(delete(group_members).where(_GM.group == name))
            conn.execute(delete(groups).where(_G.name == name))

    def list_groups(self, limit: int = 1000, after: str | None = None) -> list[Group]:
        query = select(groups).order_by(_G.name).limit(limit)
        if after is not None:
            query = query.where(_G.name > after)
        with self._read() as conn:
            return self._with_members(conn, list(conn.execute(query)))

    def _group(self, conn: Connection, name: str) -> Group:
        return self._with_members(conn, [self._group_row(conn, name)])[0]

    @staticmethod
    def _with_members(conn: Connection, rows: list[Row[Any]]) -> list[Group]:
        members: dict[str, list[str]] = {r.name: [] for r in rows}
        if members:
            found = select(_GM.group, _GM.member).where(_GM.group.in_(list(members))).order_by(_GM.member)
            for group, member in conn.execute(found):
                members[group].append(member)
        return [Group(r.name, r.created_at, r.description, tuple(members[r.name])) for r in rows]

    def set_membership(self, group: str, member: str, present: bool) -> Group:
        with self._write() as conn:
            self._group_row(conn, group)
            if conn.execute(select(_U.name).where(_U.name == member)).first() is None:
                raise NotFoundError(f"user {member!r} does not exist; `shipyard users list` shows them")
            where = (_GM.group == group, _GM.member == member)
            exists = conn.execute(select(_GM.member).where(*where)).first() is not None
            if present and not exists:
                conn.execute(insert(group_members).values(group=group, member=member))
            elif not present and exists:
                conn.execute(delete(group_members).where(*where))
            return self._group(conn, group)

    @staticmethod
    def _group_row(conn: Connection, name: str) -> Row[Any]:
        row = conn.execute(select(groups).where(_G.name == name)).first()
        if row is None:
            raise NotFoundError(f"group {name!r} does not exist; `shipyard groups list` shows them")
        return row

    # ---- projects ----------------------------------------------------------------------------------
    def create_project(self, project: Project) -> Project:
        with self._write() as conn:
            if conn.execute(select(_P.name).where(_P.name == project.name)).first() is not None:
                raise AlreadyExistsError(f"project {project.name!r} already exists")
            conn.execute(
                insert(projects).values(
                    name=project.name,
                    private=project.private,
                    description=project.description,
                    created_at=project.created_at,
                    created_by=project.created_by,
                )
            )
        return project

    def set_project_private(self, name: str, private: bool) -> Project:
        with self._write() as conn:
            conn.execute(update(projects).where(_P.name == name).values(private=private))
            row = conn.execute(select(projects).where(_P.name == name)).first()
        if row is None:
            raise NotFoundError(f"project {name!r} does not exist; `shipyard projects list` shows them")
        return _project(row)

    def list_projects(self, limit: int = 1000, after: str | None = None) -> list[Project]:
        query = select(projects).order_by(_P.name).limit(limit)
        if after is not None:
            query = query.where(_P.name > after)
        with self._read() as conn:
            return [_project(r) for r in conn.execute(query)]

    def private_projects(self) -> frozenset[str]:
        with self._read() as conn:
            return frozenset(conn.execute(select(_P.name).where(_P.private.is_(True))).scalars())

    # ---- roles and bindings ------------------------------------------------------------------------
    def create_role(self, role: CustomRole) -> CustomRole:
        with self._write() as conn:
            if conn.execute(select(_R.name).where(_R.name == role.name)).first() is not None:
                raise AlreadyExistsError(f"role {role.name!r} already exists")
            conn.execute(
                insert(custom_roles).values(
                    name=role.name,
                    description=role.description,
                    permissions=sorted(role.permissions),
                    created_at=role.created_at,
                )
            )
        return role

    def delete_role(self, name: str) -> None:
        with self._write() as conn:
            if conn.execute(select(_R.name).where(_R.name == name)).first() is None:
                raise NotFoundError(f"role {name!r} does not exist; `shipyard roles list` shows them")
            used = conn.execute(select(_B.id).where(_B.role == name).limit(1)).first()
            if used is not None:
                raise ConflictError(f"role {name!r} is still bound; delete its bindings first")
            conn.execute(delete(custom_roles).where(_R.name == name))

    def list_roles(self) -> list[CustomRole]:
        with self._read() as conn:
            return [
                CustomRole(r.name, tuple(r.permissions), r.created_at, r.description)
                for r in conn.execute(select(custom_roles).order_by(_R.name))
            ]

    def create_binding(self, binding: Binding) -> Binding:
        with self._write() as conn:
            if binding.principal_kind == "group":
                self._group_row(conn, binding.principal)
            elif conn.execute(select(_U.name).where(_U.name == binding.principal)).first() is None:
                raise NotFoundError(
                    f"user {binding.principal!r} does not exist; `shipyard users list` shows them"
                )
            same = conn.execute(
                select(_B.id).where(
                    _B.principal_kind == binding.principal_kind,
                    _B.principal == binding.principal,
                    _B.role == binding.role,
                    _B.scope == binding.scope,
                )
            ).first()
            if same is not None:
                raise AlreadyExistsError(
                    f"{binding.principal!r} already has role {binding.role!r} at {binding.scope!r} "
                    f"(binding {same.id})"
                )
            _insert_binding(conn, binding)
        return binding

    def delete_binding(self, binding_id: str) -> Binding:
        with self._write() as conn:
            row = conn.execute(select(bindings).where(_B.id == binding_id)).first()
            if row is None:
                raise NotFoundError(
                    f"binding {binding_id!r} does not exist; `shipyard bindings list` shows them"
                )
            conn.execute(delete(bindings).where(_B.id == binding_id))
        return _binding(row)

    def list_bindings(
        self, *, principal: str | None = None, scope: str | None = None, limit: int = 1000, offset: int = 0
    ) -> list[Binding]:
        query = select(bindings).order_by(_B.principal, _B.scope, _B.role, _B.id).limit(limit).offset(offset)
        if principal is not None:
            query = query.where(_B.principal == principal)
        if scope is not None:
            query = query.where(_B.scope == scope)
        with self._read() as conn:
            return [_binding(r) for r in conn.execute(query)]

    def access_rows(self, user: str) -> tuple[list[tuple[str, str]], dict[str, frozenset[str]]]:
        member_of = select(_GM.group).where(_GM.member == user)
        query = select(_B.role, _B.scope).where(
            ((_B.principal_kind == "user") & (_B.principal == user))
            | ((_B.principal_kind == "group") & _B.principal.in_(member_of))
        )
        with self._read() as conn:
            pairs = [(r.role, r.scope) for r in conn.execute(query)]
            names = {role for role, _ in pairs}
            roles = {
                r.name: frozenset(r.permissions)
                for r in conn.execute(select(_R.name, _R.permissions).where(_R.name.in_(names)))
            }
        return pairs, roles

    # ---- tokens ------------------------------------------------------------------------------------
    def create_token(self, token: TokenRecord) -> TokenRecord:
        with self._write() as conn:
            if conn.execute(select(_U.name).where(_U.name == token.user)).first() is None:
                raise NotFoundError(f"user {token.user!r} does not exist")
            _insert_token(conn, token)
        return token

    def find_token(self, token_hash: str) -> tuple[TokenRecord, User] | None:
        query = (
            select(
                api_tokens,
                _U.kind,
                _U.description,
                _U.created_at.label("user_created_at"),
                _U.disabled,
            )
            .join(users, _U.name == _T.user)
            .where(_T.token_hash == token_hash)
        )
        with self._read() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        user = User(
            name=row.user,
            created_at=row.user_created_at,
            kind=row.kind,
            disabled=bool(row.disabled),
            description=row.description,
        )
        return _token(row), user

    def list_tokens(self, user: str | None = None, limit: int = 1000, offset: int = 0) -> list[TokenRecord]:
        query = select(api_tokens).order_by(_T.created_at, _T.id).limit(limit).offset(offset)
        if user is not None:
            query = query.where(_T.user == user)
        with self._read() as conn:
            return [_token(r) for r in conn.execute(query)]

    def get_token(self, token_id: str) -> TokenRecord:
        with self._read() as conn:
            row = conn.execute(select(api_tokens).where(_T.id == token_id)).first()
        if row is None:
            raise NotFoundError(f"token {token_id!r} does not exist; `shipyard tokens list` shows them")
        return _token(row)

    def revoke_token(self, token_id: str, at: Any) -> TokenRecord:
        with self._write() as conn:
            conn.execute(
                update(api_tokens).where(_T.id == token_id, _T.revoked_at.is_(None)).values(revoked_at=at)
            )
            row = conn.execute(select(api_tokens).where(_T.id == token_id)).first()
        if row is None:
            raise NotFoundError(f"token {token_id!r} does not exist; `shipyard tokens list` shows them")
        return _token(row)

    # ---- audit -------------------------------------------------------------------------------------
    def record_audit(self, events: list[AuditEvent]) -> None:
        if not events:
            return
        with self._write() as conn:
            append_audit(conn, events)

    def list_audit(
        self,
        limit: int = 100,
        user: str | None = None,
        *,
        action: str | None = None,
        since: datetime | None = None,
        before_id: int | None = None,
    ) -> list[AuditEvent]:
        query = select(audit_events).order_by(_E.id.desc()).limit(limit)
        if user is not None:
            query = query.where(_E.user == user)
        if action is not None:
            query = query.where(_E.action.contains(action, autoescape=True))
        if since is not None:
            query = query.where(_E.at >= since)
        if before_id is not None:
            query = query.where(_E.id < before_id)
        with self._read() as conn:
            return [_event(r) for r in conn.execute(query)]

    def iter_audit(self, after_id: int = 0, batch: int = 1000) -> list[AuditEvent]:
        query = select(audit_events).where(_E.id > after_id).order_by(_E.id).limit(batch)
        with self._read() as conn:
            return [_event(r) for r in conn.execute(query)]


def append_audit(conn: Connection, events: list[AuditEvent]) -> None:
    """Append ``events`` to the hash-chained audit log inside the caller's write transaction (so a
    store can record a change and its audit event atomically)."""
    if not events:
        return
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _AUDIT_LOCK})
    last = conn.execute(select(_E.chain).where(_E.chain.is_not(None)).order_by(_E.id.desc()).limit(1))
    previous = last.scalar() or GENESIS
    rows = []
    for e in events:
        previous = link(previous, e)
        rows.append(
            {
                "at": e.at,
                "user": e.user,
                "action": e.action[:250],
                "target": e.target,
                "status": e.status,
                "scope": e.scope,
                "request_id": e.request_id,
                "source": e.source,
                "detail": e.detail,
                "chain": previous,
            }
        )
    conn.execute(insert(audit_events), rows)
