"""Drive identity bound to the volume: the marker's token is an HMAC of the drive id and the volume's own
UUID/serial under a per-installation secret.

* Copying the marker folder to another stick does not make it a target: the other volume's UUID differs.
* Re-formatting a registered stick changes its UUID: it must be registered again.
* Someone without this installation's secret cannot forge a marker for a volume.

The secret (32 random bytes) lives in the OS keyring through :mod:`keyring` (Secret Service on Linux, the
Credential Manager on Windows). Where no keyring backend works (headless Linux), it is kept in a file readable
only by the user (mode 0600) in the state folder, and a warning says so once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import secrets
from pathlib import Path

log = logging.getLogger(__name__)

SERVICE = "usbsync"
SECRET_FILE = "identity.key"
TOKEN_VERSION = "v1"


def make_token(secret: bytes, drive_id: str, volume_uuid: str) -> str:
    """``v1:<hex HMAC-SHA256(secret, drive_id NUL volume_uuid)>``. UUIDs compare case-insensitively."""
    msg = f"{drive_id}\0{volume_uuid.strip().lower()}".encode()
    return f"{TOKEN_VERSION}:{hmac.new(secret, msg, hashlib.sha256).hexdigest()}"


def token_matches(secret: bytes, drive_id: str, volume_uuid: str, token: str | None) -> bool:
    """Constant-time check of a marker's token against this volume. False for a missing token or UUID."""
    if not token or not volume_uuid:
        return False
    return hmac.compare_digest(make_token(secret, drive_id, volume_uuid), token)


class SecretStore:
    """The per-installation secret. ``account`` tells installations apart (one per state folder).

    Args:
        state_dir: where the fallback file goes.
        use_keyring: False to skip the keyring (tests of the fallback).
    """

    def __init__(self, state_dir: Path, use_keyring: bool = True):
        self.state_dir = state_dir
        self.account = f"drive-identity:{hashlib.sha256(str(state_dir.resolve()).encode()).hexdigest()[:16]}"
        self.use_keyring = use_keyring
        self.where = ""  # "keyring (<backend>)" or the fallback file's path, once loaded

    @property
    def fallback_file(self) -> Path:
        return self.state_dir / SECRET_FILE

    def secret(self) -> bytes:
        """Load the secret, creating it on first use. Raises OSError if even the fallback file fails."""
        if self.use_keyring:
            got = self._from_keyring()
            if got is not None:
                return got
        return self._from_file()

    def _from_keyring(self) -> bytes | None:
        try:
            import keyring
            from keyring.errors import KeyringError
        except ImportError:
            return None
        try:
            backend = keyring.get_keyring()
            if backend.priority <= 0 or type(backend).__module__.startswith(
                ("keyring.backends.fail", "keyrings.alt")
            ):
                return (
                    None  # no real keyring; keyrings.alt's "plaintext" backends are no better than our file
                )
            stored = keyring.get_password(SERVICE, self.account)
            if stored is None:
                if self.fallback_file.exists():  # moving from the file to a keyring that appeared since
                    stored = self.fallback_file.read_text().strip()
                else:
                    stored = base64.b64encode(secrets.token_bytes(32)).decode()
                keyring.set_password(SERVICE, self.account, stored)
            self.where = f"keyring ({type(backend).__name__})"
            return base64.b64decode(stored)
        except (KeyringError, ValueError, RuntimeError) as exc:
            log.debug("keyring unavailable: %s", exc)
            return None

    def _from_file(self) -> bytes:
        path = self.fallback_file
        self.where = str(path)
        try:
            return base64.b64decode(path.read_text().strip())
        except FileNotFoundError:
            pass
        path.parent.mkdir(parents=True, exist_ok=True)
        value = base64.b64encode(secrets.token_bytes(32)).decode()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(value + "\n")
        # Said once, when the file is made; the engine's startup summary says where the secret lives each time.
        log.warning(
            "no OS keyring is available: the drive identity secret is kept in %s (readable only by you). "
            "Anyone who can read it can make a stick pass as one of your drives.",
            path,
        )
        return base64.b64decode(value)
