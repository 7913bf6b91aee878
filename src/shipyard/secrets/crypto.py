"""The secrets key and AES-GCM: how a value becomes (key id, nonce, ciphertext) and back.

- The key is 32 random bytes, written as base64, from ``SHIPYARD_SECRETS_KEY_FILE`` (a file holding
  the base64 text; it wins) or ``SHIPYARD_SECRETS_KEY``, read through the typed
  :class:`~shipyard.core.settings.Settings` (never at import time).
- Each write draws a fresh 96-bit nonce; the associated data binds the ciphertext to its row
  (project, environment, name), so a ciphertext copied to another secret's row fails to decrypt.
- The ``key id`` is a short hash of the key: it tells rotation which rows to re-encrypt and turns
  "wrong key" into a clear error. It reveals nothing useful about a 256-bit random key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from shipyard.core.errors import ConfigurationError

if TYPE_CHECKING:
    from shipyard.core.settings import Settings

KEY_BYTES = 32
NONCE_BYTES = 12
MAKE_KEY = 'python -c "import os,base64;print(base64.b64encode(os.urandom(32)).decode())"'


@dataclass(frozen=True)
class SecretKey:
    """A 256-bit AES key and its id; ``repr`` never shows the key."""

    material: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.material) != KEY_BYTES:
            raise ConfigurationError(
                f"a secrets key is {KEY_BYTES} bytes, not {len(self.material)}; make one with: {MAKE_KEY}"
            )

    @property
    def key_id(self) -> str:
        return key_id(self.material)


def key_id(material: bytes) -> str:
    """16 hex characters identifying ``material`` (a domain-separated sha256)."""
    return hashlib.sha256(b"shipyard-secrets-key-id\x00" + material).hexdigest()[:16]


def parse_key(text: str, where: str) -> SecretKey:
    """The key written as base64 text in ``where`` (named in errors, never the text itself)."""
    try:
        material = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigurationError(
            f"{where} is not base64 text; it must hold 32 random bytes as base64: make one with: {MAKE_KEY}"
        ) from None
    if len(material) != KEY_BYTES:
        raise ConfigurationError(
            f"{where} holds {len(material)} bytes, not {KEY_BYTES}; make a key with: {MAKE_KEY}"
        )
    return SecretKey(material)


def read_key_file(path: Path) -> SecretKey:
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise ConfigurationError(
            f"cannot read the secrets key file {path} (SHIPYARD_SECRETS_KEY_FILE): {reason}"
        ) from None
    return parse_key(text, f"the secrets key file {path}")


def load_key(settings: Settings) -> SecretKey:
    """The configured key; a one-line ConfigurationError saying how to make one when there is none."""
    if settings.secrets_key_file is not None:
        return read_key_file(settings.secrets_key_file)
    if settings.secrets_key is not None:
        return parse_key(settings.secrets_key.get_secret_value(), "SHIPYARD_SECRETS_KEY")
    raise ConfigurationError(
        "no secrets key configured; make one with "
        f"{MAKE_KEY} and put it in SHIPYARD_SECRETS_KEY, or in a file named by SHIPYARD_SECRETS_KEY_FILE"
    )


def associated_data(project: str, environment: str, name: str) -> bytes:
    """What binds a ciphertext to its row (names never hold NUL: see check_secret_ref)."""
    return "\x00".join(("shipyard-secret-v1", project, environment, name)).encode("utf-8")


def encrypt(key: SecretKey, plaintext: bytes, aad: bytes) -> tuple[bytes, bytes]:
    """(nonce, ciphertext with its 16-byte tag) under a fresh random nonce."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(NONCE_BYTES)
    return nonce, AESGCM(key.material).encrypt(nonce, plaintext, aad)


def decrypt(key: SecretKey, nonce: bytes, ciphertext: bytes, aad: bytes) -> bytes | None:
    """The plaintext, or None when the key, the nonce, the ciphertext or the row does not match."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    try:
        return AESGCM(key.material).decrypt(bytes(nonce), bytes(ciphertext), aad)
    except (InvalidTag, ValueError):
        return None
