"""The secret that keys the audit chain, kept outside the database.

A record's digest is HMAC-SHA-256(key, previous digest + content): someone who can write the database
but does not hold the key cannot rewrite a record and recompute the chain after it (`audit verify` finds
the digests wrong). Where the key comes from, first found wins:

1. `VOORZORG_AUDIT_KEY` — the secret itself; several separated by commas, the last one current;
2. `VOORZORG_AUDIT_KEY_FILE` — a file of secrets, one a line, the last one current;
3. `audit-key` in the data directory — made on first use (32 random bytes, hex, mode 0600), same format.

Rotation: add the new secret at the end (a new line, or `,new` in the variable) and restart. New records
are keyed with it; the earlier secrets stay in the ring only to verify the records they keyed (a record
names its key by id: the first 16 hex digits of SHA-256 over a fixed label and the secret, which says
nothing of the secret). Take a checkpoint before and after (`voorzorg-adapter audit checkpoint`).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

#: Shorter secrets are refused: a guessable key is no key.
MIN_SECRET_BYTES = 16


def key_id(secret: bytes) -> str:
    return hashlib.sha256(b"voorzorg-audit-key\0" + secret).hexdigest()[:16]


@dataclass(frozen=True)
class AuditKeys:
    """The key ring: `current` keys new records; every key verifies the records that name it."""

    current: str
    secrets: dict[str, bytes]

    @classmethod
    def of(cls, *secret_values: bytes) -> AuditKeys:
        for s in secret_values:
            if len(s) < MIN_SECRET_BYTES:
                raise ValueError(f"an audit key must be at least {MIN_SECRET_BYTES} bytes long")
        if not secret_values:
            raise ValueError("no audit key")
        ring = {key_id(s): s for s in secret_values}
        return cls(current=key_id(secret_values[-1]), secrets=ring)

    def mac(self, kid: str, message: str) -> str | None:
        """HMAC-SHA-256 of `message` with key `kid`; None when the ring does not hold that key."""
        secret = self.secrets.get(kid)
        if secret is None:
            return None
        return hmac.new(secret, message.encode("utf-8"), hashlib.sha256).hexdigest()

    def sign(self, message: str) -> tuple[str, str]:
        """(key id, MAC) of `message` with the current key."""
        mac = self.mac(self.current, message)
        assert mac is not None  # the current key is always in the ring
        return self.current, mac

    def matches(self, kid: str, message: str, mac: str) -> bool | None:
        """Whether `mac` is the MAC of `message` with key `kid`; None when the ring lacks that key."""
        expected = self.mac(kid, message)
        return None if expected is None else hmac.compare_digest(expected, mac)


def load_audit_keys(env_secrets: str, key_file: Path) -> AuditKeys:
    """The ring from the environment's secrets (comma-separated) or else from `key_file` (made when
    missing)."""
    if env_secrets.strip():
        return AuditKeys.of(*(s.strip().encode() for s in env_secrets.split(",") if s.strip()))
    if not key_file.exists():
        _make(key_file)
    lines = [ln.strip() for ln in key_file.read_text(encoding="utf-8").splitlines()]
    return AuditKeys.of(*(ln.encode() for ln in lines if ln and not ln.startswith("#")))


def make_secret_file(path: Path) -> None:
    """A file holding a fresh secret (the pseudonym key of the research export is made the same way)."""
    _make(path)


def _make(path: Path) -> None:
    """A fresh secret, written whole before it appears under `path` (two processes starting at once
    end up with one key)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(secrets.token_hex(32) + "\n")
    try:
        os.link(draft, path)
    except FileExistsError:  # another process made it first: use theirs
        pass
    finally:
        draft.unlink()
