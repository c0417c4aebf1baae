"""The hub's key for the node tokens it keeps in its state DB (Fernet, from ``cryptography``).

A node's operator issues the hub a bearer token, and the hub must send it back: unlike a node,
which keeps only a SHA-256 of the tokens it issued, the hub cannot keep a hash. It keeps each
token encrypted, as ``fernet:<Fernet token>``, so that a copy of the state DB (a backup, a
PostgreSQL dump, an error message quoting a row) does not give away the nodes' tokens.

The key is ``TRACEHOP_HUB_KEY`` when set, else the file ``HOME/hub-secret.key`` (created on
first use, mode 0600). Either may hold several keys (comma- or line-separated): the first
encrypts, every one decrypts, and the next directory import moves every stored token to the
first; that is how a key is rotated (docs/traceback.md, "Node tokens at rest").

A stored value without the prefix is a token written before tokens were encrypted: it is used
as is, and encrypted by the next directory import (so no migration is needed, and none could
encrypt: a migration has no key).
"""

from __future__ import annotations

import logging
import os
import re
import secrets
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from tracehop.errors import ConfigError
from tracehop.settings import Settings

log = logging.getLogger(__name__)

PREFIX = "fernet:"
KEY_FILE = "hub-secret.key"
ENV = "TRACEHOP_HUB_KEY"
_SPLIT = re.compile(r"[\s,]+")
_MAKE_KEY = (
    "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
)


class TokenKeyError(ConfigError):
    """The hub's token key is missing, malformed or not the one the tokens were stored with.

    A fault of the hub's own setup, not of a request: 500 when the API meets it."""

    status = 500


def is_encrypted(stored: str) -> bool:
    """Whether a stored token is encrypted (else it was stored in clear, before encryption)."""
    return stored.startswith(PREFIX)


def key_path(settings: Settings) -> Path:
    return settings.home / KEY_FILE


class TokenBox:
    """Encrypts and decrypts node tokens with the hub's key(s); reads the key once, when first
    needed (a legacy clear token needs none), and creates the key file only to encrypt."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._keys: list[Fernet] | None = None

    @property
    def _from_env(self) -> bool:
        key = self.settings.hub_key
        return key is not None and bool(key.get_secret_value().strip())

    def where(self) -> str:
        """Where the key comes from, for messages (never the key itself)."""
        if self._from_env:
            return f"the {ENV} they were stored with"
        return str(key_path(self.settings))

    def cannot_decrypt(self, providers: list[str] | None = None) -> str:
        """The one-line error for tokens the key does not decrypt."""
        who = ""
        if providers:
            who = f" ({', '.join(providers[:5])}{', ...' if len(providers) > 5 else ''})"
        return (
            f"the hub's token key does not decrypt the stored node tokens{who}: "
            f"restore {self.where()} or re-import the directory with tokens"
        )

    def _load(self, *, create: bool) -> list[Fernet]:
        if self._keys is not None:
            return self._keys
        if self._from_env:
            text = self.settings.hub_key.get_secret_value()  # type: ignore[union-attr]
            self._keys = _parse(text, ENV)
            return self._keys
        path = key_path(self.settings)
        if not path.exists():
            if not create:
                return []  # nothing to decrypt with (the caller says what to do)
            _create(path)
        try:
            text = path.read_text(encoding="ascii")
            mode = path.stat().st_mode
        except (OSError, UnicodeDecodeError) as exc:
            raise TokenKeyError(f"cannot read the hub's token key {path}: {exc}") from None
        if mode & 0o077:
            log.warning("%s can be read by other users: chmod 600 it", path)
        self._keys = _parse(text, str(path))
        return self._keys

    def encrypt(self, token: str) -> str:
        """``fernet:...`` for a clear token (creating the key file if there is no key yet)."""
        keys = self._load(create=True)
        return PREFIX + keys[0].encrypt(token.encode("utf-8")).decode("ascii")

    def decrypt(self, stored: str) -> str:
        """The clear token of a stored value; a value without the prefix is a legacy clear
        token and comes back as it is."""
        token = self.try_decrypt(stored)
        if token is None:
            raise TokenKeyError(self.cannot_decrypt())
        return token

    def try_decrypt(self, stored: str) -> str | None:
        """As ``decrypt``, but None when there is no key or it is not the right one (a
        malformed key is still an error)."""
        if not is_encrypted(stored):
            return stored
        keys = self._load(create=False)
        if not keys:
            return None
        try:
            return MultiFernet(keys).decrypt(stored[len(PREFIX) :].encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError):
            return None

    def reencrypt(self, stored: str) -> str | None:
        """The stored value as the next write should keep it: a legacy clear token encrypted,
        a token under an older key (rotation) moved to the first key, anything else as it is.
        None when the key does not decrypt it (the caller reports it)."""
        if not is_encrypted(stored):
            return self.encrypt(stored)
        keys = self._load(create=False)
        data = stored[len(PREFIX) :].encode("ascii", "replace")
        if not keys:
            return None
        try:
            keys[0].decrypt(data)
            return stored
        except InvalidToken:
            pass
        try:
            return PREFIX + MultiFernet(keys).rotate(data).decode("ascii")
        except InvalidToken:
            return None


def encrypt(settings: Settings, token: str) -> str:
    """A node token as the hub stores it: ``fernet:<Fernet token>``."""
    return TokenBox(settings).encrypt(token)


def decrypt(settings: Settings, stored: str) -> str:
    """The clear node token of a stored value (a legacy clear value is returned as is);
    ``TokenKeyError`` when the hub's key is missing or not the one it was stored with."""
    return TokenBox(settings).decrypt(stored)


def _parse(text: str, source: str) -> list[Fernet]:
    parts = [p for p in _SPLIT.split(text) if p]
    if not parts:
        raise TokenKeyError(f"{source} holds no key: restore it, or make one with {_MAKE_KEY}")
    keys = []
    for i, part in enumerate(parts, 1):
        try:
            keys.append(Fernet(part))
        except ValueError:
            # never echo the value: it may be a real key with a typo
            raise TokenKeyError(
                f"{source}: key {i} is not a Fernet key (32 url-safe base64-encoded bytes): "
                f"make one with {_MAKE_KEY}"
            ) from None
    return keys


def _create(path: Path) -> None:
    """Write a new key, mode 0600, all or nothing: another process creating it at the same
    time wins and both use its key (``link`` fails if the name exists)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(Fernet.generate_key() + b"\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return
    finally:
        tmp.unlink(missing_ok=True)
    log.warning(
        "created the hub's token key %s: back it up apart from the state DB "
        "(without it the stored node tokens cannot be read)",
        path,
    )
