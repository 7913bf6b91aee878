"""Issuing tokens and bootstrapping the first admin (used by the routes, the CLI and ``serve``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from shipyard.core.clock import utcnow
from shipyard.core.errors import ConfigurationError, ConflictError, InvalidInputError
from shipyard.core.ids import new_id
from shipyard.metadata.security import Binding, SecurityStore, TokenRecord, User
from shipyard.security.policy import SERVER_SCOPE
from shipyard.security.tokens import check_token_strength, display_prefix, hash_token, new_token

ADMIN_USER = "admin"
UI_SESSION = "ui-session"  # the name of the token a UI sign-in (password or SSO) mints
UI_SESSION_TTL = timedelta(hours=12)


def issue_token(
    store: SecurityStore,
    user: str,
    name: str,
    expires_in: timedelta | None = None,
    value: str | None = None,
    *,
    scope: str | None = None,
    permissions: tuple[str, ...] | None = None,
    actions: tuple[str, ...] | None = None,
) -> tuple[str, TokenRecord]:
    """Store a token for ``user`` (a fresh random one unless ``value`` is given); returns the value
    (show it once: only its hash is kept) and the record."""
    value = value if value is not None else new_token()
    now = utcnow()
    record = _token_record(
        user, name, value, now, expires_in, scope=scope, permissions=permissions, actions=actions
    )
    return value, store.create_token(record)


def _token_record(
    user: str,
    name: str,
    value: str,
    now: datetime,
    expires_in: timedelta | None = None,
    *,
    scope: str | None = None,
    permissions: tuple[str, ...] | None = None,
    actions: tuple[str, ...] | None = None,
) -> TokenRecord:
    return TokenRecord(
        id=new_id(),
        user=user,
        name=name,
        token_hash=hash_token(value),
        prefix=display_prefix(value),
        created_at=now,
        expires_at=now + expires_in if expires_in is not None else None,
        scope=scope,
        permissions=permissions,
        actions=actions,
    )


def issue_ui_session(store: SecurityStore, user: str) -> str:
    """A short-lived token for a browser session of ``user`` (the value goes into the cookie only)."""
    value, _ = issue_token(store, user, UI_SESSION, UI_SESSION_TTL)
    return value


def end_ui_session(store: SecurityStore, value: str) -> str | None:
    """Revoke the UI session token ``value``; its user, or None (nothing revoked) for any other
    token, so signing out never revokes an API token pasted into the sign-in form."""
    found = store.find_token(hash_token(value))
    if found is None or found[0].name != UI_SESSION or found[0].revoked_at is not None:
        return None
    store.revoke_token(found[0].id, utcnow())
    return found[0].user


def end_ui_sessions(store: SecurityStore, user: str) -> int:
    """Revoke every active UI session of ``user`` (after its password changed); how many."""
    now, ended, offset = utcnow(), 0, 0
    while page := store.list_tokens(user, limit=1000, offset=offset):
        for record in page:
            if record.name == UI_SESSION and record.active(now):
                store.revoke_token(record.id, now)
                ended += 1
        offset += len(page)
    return ended


def add_user(
    store: SecurityStore,
    name: str,
    role: str | None,
    *,
    by: str,
    kind: str = "user",
    description: str = "",
) -> User:
    """Create a user (or a service account) and bind ``role`` to it at the server scope."""
    now = utcnow()
    user = store.create_user(name, now, kind=kind, description=description)
    if role is not None:
        store.create_binding(Binding(new_id(), "user", name, role, SERVER_SCOPE, now, by))
    return user


def bootstrap_admin(store: SecurityStore, env_token: str | None, say: Callable[[str], None]) -> None:
    """On the first start create the ``admin`` user and its token — ``env_token``
    (SHIPYARD_ADMIN_TOKEN) when given, else a random one printed once through ``say``. A later start
    with a new SHIPYARD_ADMIN_TOKEN adds it as another admin token. A chosen token must be well
    formed and look random (:func:`shipyard.security.tokens.check_token_strength`): an admin token
    anyone could guess would open the whole server."""
    if env_token is not None:
        try:
            check_token_strength(env_token, "SHIPYARD_ADMIN_TOKEN")
        except InvalidInputError as exc:
            raise ConfigurationError(exc.message) from None
    now = utcnow()
    value = env_token if env_token is not None else new_token()
    first = store.bootstrap_first_user(
        User(name=ADMIN_USER, created_at=now, description="the first start made it"),
        Binding(new_id(), "user", ADMIN_USER, "admin", SERVER_SCOPE, now, "bootstrap"),
        _token_record(ADMIN_USER, "bootstrap", value, now),
    )  # one transaction, serialized: of concurrent first starts exactly one makes the admin
    if first:
        if env_token is None:
            say(
                "created user 'admin'. Its token is shown only this once; keep it safe:\n\n"
                f"    SHIPYARD_TOKEN={value}\n"
            )
        else:
            say("created user 'admin' with the token from SHIPYARD_ADMIN_TOKEN")
        return
    if env_token is not None and store.find_token(hash_token(env_token)) is None:
        try:
            issue_token(store, ADMIN_USER, "from SHIPYARD_ADMIN_TOKEN", value=env_token)
        except ConflictError:  # a concurrent start with the same variable added it first
            if store.find_token(hash_token(env_token)) is None:
                raise
            return
        say("added the token from SHIPYARD_ADMIN_TOKEN to user 'admin'")
