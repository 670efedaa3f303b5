"""Drive identity bound to the volume: the marker's token is an HMAC of the drive id and the volume's own
UUID/serial under a per-installation secret.

* Copying the marker folder to another stick does not make it a target: the other volume's UUID differs.
* Re-formatting a registered stick changes its UUID: it must be registered again.
* Someone without this installation's secret cannot forge a marker for a volume.

The secret (32 random bytes) lives in the OS keyring through :mod:`keyring` (Secret Service on Linux, the
Credential Manager on Windows). Where no keyring backend works (headless Linux), it is kept in a file readable
only by the user in the state folder (mode 0600; on Windows, which ignores the mode, a protected DACL with one
entry for the user), and a warning says so once.

A keyring that exists but cannot be read now is not a missing one: a locked Secret Service collection, or a
session with gnome-keyring but no default keyring, raises :class:`KeyringLocked`. Nothing is created then (no
new secret, no fallback file, no new keyring), and no unlock or "choose a password" prompt is shown: a new
secret there would turn every registered drive into a look-alike, and the prompt would hold up start-up.
:class:`UnlockWaiter` waits, on a worker thread, for the keyring's own D-Bus signals saying it was unlocked.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import secrets
import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager, suppress
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SERVICE = "usbsync"
SECRET_FILE = "identity.key"
# Written (no secret in it: the backend's name) once the secret lives in a keyring. A session that cannot see
# any keyring (ssh, cron: no session bus) must then not make a new secret: it would orphan every drive.
KEYRING_RECORD = "identity.in-keyring"
TOKEN_VERSION = "v1"
LOCKED_MESSAGE = "the keyring is locked: unlock it (log in to the desktop session) and run again"
SECRETS_BUS_NAME = "org.freedesktop.secrets"
SECRETS_PATH = "/org/freedesktop/secrets"
# How long a waiter sleeps between signals before looking again anyway: a safety net for a change the daemon
# does not signal (an alias set by another program); unlocking, creating and replacing keyrings are signalled.
RECHECK_S = 30.0


class KeyringLocked(Exception):
    """A system keyring exists but cannot be read now: its default collection is locked, or there is no
    default collection yet. Nothing was created or prompted for. ``str()`` says which; the front ends tell the
    user :data:`LOCKED_MESSAGE`."""


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
        """Load the secret (32 bytes), creating it on first use where nothing exists yet. Never prompts.

        Sources, in order: the OS keyring when a real backend exists (:mod:`keyring`; for the Secret Service
        read directly with :mod:`secretstorage`, so that a locked or missing default collection is reported
        instead of prompting); otherwise the 0600 fallback file.

        Raises:
            KeyringLocked: a system keyring exists but cannot be read now (nothing was created).
            OSError: the fallback file cannot be read or made.
        """
        if self.use_keyring and not self._no_keyring_here():
            got = self._from_keyring()
            if got is not None:
                return got
        return self._from_file()

    def _no_keyring_here(self) -> bool:
        """True when asking :mod:`keyring` is known to end in the fallback file's secret, so it is skipped: on
        Linux, the fallback file exists, no keyring ever held the secret (no :data:`KEYRING_RECORD`), and this
        session can reach no keyring daemon (no session bus, no display to start one from) nor names a backend
        itself (``PYTHON_KEYRING_BACKEND``, ``keyringrc.cfg``).

        Why: finding out the long way imports every keyring backend and scans every installed package's entry
        points: 0.1-0.2 s of CPU at each ``usbsync sync-once`` on a headless box, before its first byte
        (docs/performance.md). The answer is the same secret either way: a keyring that does exist but that no
        session bus leads to (a third-party backend) would be given the file's secret on first use
        (:meth:`_initial_value`); it is given it at the first run from a desktop session instead."""
        if not sys.platform.startswith("linux"):
            return False
        if not self.fallback_file.exists() or (self.state_dir / KEYRING_RECORD).exists():
            return False
        env = os.environ
        if any(
            env.get(k)
            for k in ("DBUS_SESSION_BUS_ADDRESS", "DISPLAY", "WAYLAND_DISPLAY", "PYTHON_KEYRING_BACKEND")
        ):
            return False
        if os.path.exists(f"/run/user/{os.getuid()}/bus"):  # the systemd user bus, found without the variable
            return False
        config_home = env.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
        return not os.path.exists(os.path.join(config_home, "python_keyring", "keyringrc.cfg"))

    def _from_keyring(self) -> bytes | None:
        """The secret from the system keyring; None when there is no real keyring backend."""
        try:
            import keyring
            from keyring.errors import KeyringError
            from keyring.errors import KeyringLocked as _Locked
        except ImportError:
            return None
        backend = _system_backend(keyring.get_keyring())
        if backend is None:
            return None
        if _is_secret_service(backend):
            stored = self._from_secret_service(backend)
        else:
            try:
                stored = backend.get_password(SERVICE, self.account)
                if stored is None:
                    stored = self._initial_value()
                    backend.set_password(SERVICE, self.account, stored)
            except _Locked as exc:
                raise KeyringLocked(f"{type(backend).__name__}: {exc}") from exc
            except (KeyringError, RuntimeError) as exc:
                # A keyring is there but failed: making a secret elsewhere would orphan every registered drive.
                raise KeyringLocked(f"{type(backend).__name__} cannot be read now: {exc}") from exc
        self.where = f"keyring ({type(backend).__name__})"
        self._note_keyring(type(backend).__name__)
        try:
            return base64.b64decode(stored, validate=True)
        except ValueError as exc:
            raise KeyringLocked(f"the keyring's usbsync secret is not readable: {exc}") from exc

    def _initial_value(self) -> str:
        """The value to store in a readable keyring that has none: the fallback file's secret when one exists
        (moving from the file to a keyring that appeared since keeps the registered drives), else a new one."""
        if self.fallback_file.exists():
            return self.fallback_file.read_text().strip()
        return base64.b64encode(secrets.token_bytes(32)).decode()

    def _from_secret_service(self, backend: Any) -> str:
        """Read (or, in an unlocked default collection without it, store) the secret over the Secret Service
        without any prompt: keyring's own path would call ``Unlock`` or ``CreateCollection`` and wait for the
        user. Items are found with keyring's own attributes, so secrets stored by keyring are the same."""
        import secretstorage
        from secretstorage.exceptions import ItemNotFoundException, SecretStorageException

        try:
            with closing(secretstorage.dbus_init()) as conn:
                path = getattr(backend, "preferred_collection", None) or _default_collection_path(conn)
                if path is None:
                    raise KeyringLocked("there is no default keyring yet")
                try:
                    collection = secretstorage.Collection(conn, path)
                except ItemNotFoundException:
                    raise KeyringLocked(f"the keyring {path} does not exist") from None
                if collection.is_locked():
                    raise KeyringLocked(f"the keyring {collection.get_label()!r} is locked")
                for item in collection.search_items(backend._query(SERVICE, self.account)):
                    if item.is_locked():
                        raise KeyringLocked("the keyring's usbsync item is locked")
                    return str(item.get_secret().decode("utf-8"))
                value = self._initial_value()
                attributes = backend._query(SERVICE, self.account, application=backend.appid)
                collection.create_item(
                    f"Password for '{self.account}' on '{SERVICE}'", attributes, value.encode()
                )
                return value
        except SecretStorageException as exc:
            raise KeyringLocked(f"the Secret Service cannot be read now: {exc}") from exc

    def _note_keyring(self, backend: str) -> None:
        record = self.state_dir / KEYRING_RECORD
        if not record.exists():
            with suppress(OSError):  # only a guard for other sessions; the secret itself is safe
                self.state_dir.mkdir(parents=True, exist_ok=True)
                record.write_text(backend + "\n")

    @staticmethod
    def _decode(path: Path, text: str) -> bytes:
        try:
            value = base64.b64decode(text.strip(), validate=True)
        except ValueError:
            value = b""
        if len(value) != 32:
            raise OSError(
                f"{path}: not a usbsync identity secret (damaged?); registered drives cannot be checked"
            )
        return value

    def _from_file(self) -> bytes:
        path = self.fallback_file
        self.where = str(path)
        try:
            secret = self._decode(path, path.read_text())
        except FileNotFoundError:
            pass
        else:
            if sys.platform == "win32":
                with suppress(OSError):  # one made by an earlier version may still have the folder's ACL
                    _make_private(path)
            return secret
        record = self.state_dir / KEYRING_RECORD
        if record.exists():
            where = record.read_text().strip() or "a keyring"
            raise KeyringLocked(
                f"the drive identity secret is in your keyring ({where}), which this session cannot reach "
                "(no session bus?): run usbsync in your desktop session"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        value = base64.b64encode(secrets.token_bytes(32)).decode()
        # Made complete before it has its name (link(2) fails if another process made one meanwhile: use
        # theirs), so no reader ever sees an empty or half-written secret.
        # Unique per thread too: the wizard's volume scan and its Finish can both make it at once.
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            _make_private(tmp)  # before the secret is in it
        except BaseException:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        with os.fdopen(fd, "w") as fh:
            fh.write(value + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return self._decode(path, path.read_text())
        finally:
            tmp.unlink(missing_ok=True)
        # Said once, when the file is made; the engine's startup summary says where the secret lives each time.
        log.warning(
            "no OS keyring is available: the drive identity secret is kept in %s (readable only by you). "
            "Anyone who can read it can make a stick pass as one of your drives.",
            path,
        )
        return base64.b64decode(value)


def _make_private(path: Path) -> None:
    """Readable by the user only. POSIX: the 0600 mode it was made with. Windows ignores the mode (a new file
    inherits the folder's ACL, which may let other users read it): replace its DACL with the user's alone."""
    if sys.platform == "win32":
        from usbsync_gui.platform.windows import make_private

        make_private(str(path))


def _system_backend(backend: Any) -> Any | None:
    """The real keyring behind :func:`keyring.get_keyring`, or None where there is none: the fail and null
    backends, and keyrings.alt's "plaintext" backends, which are no better than our file. A chainer (several
    viable backends) is represented by its Secret Service backend when it has one, else taken as it is."""
    module = type(backend).__module__
    if module.startswith("keyring.backends.chainer"):
        chained = [b for b in getattr(backend, "backends", []) if _system_backend(b) is not None]
        if not chained:
            return None
        return next((b for b in chained if _is_secret_service(b)), backend)
    if backend.priority <= 0 or module.startswith(
        ("keyring.backends.fail", "keyring.backends.null", "keyrings.alt")
    ):
        return None
    return backend


def _is_secret_service(backend: Any) -> bool:
    return type(backend).__module__ == "keyring.backends.SecretService"


def _default_collection_path(conn: Any) -> str | None:
    """The object path the ``default`` alias points at, or None when it points nowhere (ReadAlias gives
    ``/``). Asked without secretstorage's :func:`get_default_collection`, which would create (prompt for) one."""
    import secretstorage

    try:
        return str(secretstorage.get_collection_by_alias(conn, "default").collection_path)
    except secretstorage.exceptions.ItemNotFoundException:
        return None


class UnlockWaiter:
    """Waits, blocking, until the keyring can give ``store``'s secret: for a worker thread, never the GUI's.

    It subscribes to the Secret Service's signals on the session bus (``CollectionCreated``,
    ``CollectionChanged``, ``PropertiesChanged`` with ``Locked``, and the daemon's name changing owner), and
    tries :meth:`SecretStore.secret` again each time one arrives (and every :data:`RECHECK_S` seconds as a
    safety net). It never asks the daemon to unlock or create anything, so no prompt appears: the user unlocks
    the keyring the usual way (logging in, or the desktop's passwords tool). :meth:`cancel` ends a wait from any
    thread.
    """

    def __init__(self, store: SecretStore):
        self.store = store
        self._cancelled = threading.Event()
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None

    def cancel(self) -> None:
        """Make :meth:`wait` return None soon (it shuts its D-Bus socket down, which wakes the blocked read)."""
        self._cancelled.set()
        with self._lock:
            if self._sock is not None:
                with suppress(OSError):
                    self._sock.shutdown(socket.SHUT_RDWR)

    def wait(self) -> bytes | None:
        """The secret, once the keyring can give it; None if cancelled. At once when it can now (or when there
        is no system keyring: then it is the fallback file's).

        Raises:
            OSError: the fallback file cannot be read or made (no system keyring after all).
        """
        try:
            return self.store.secret()
        except KeyringLocked as exc:
            log.debug("keyring not readable yet: %s", exc)
        while not self._cancelled.is_set():
            try:
                with self._signals() as next_signal:
                    # Subscribed first, then looked again: an unlock between the two is not missed.
                    while not self._cancelled.is_set():
                        try:
                            return self.store.secret()
                        except KeyringLocked as exc:
                            log.debug("keyring not readable yet: %s", exc)
                        next_signal(RECHECK_S)
            except (OSError, KeyError, ValueError) as exc:
                if self._cancelled.is_set():
                    break
                # No signals (the bus went away, or cannot be reached): look again after a while.
                log.debug("cannot watch the keyring's signals: %s", exc)
                if self._cancelled.wait(RECHECK_S):
                    break
                try:
                    return self.store.secret()
                except KeyringLocked:
                    continue
        return None

    @contextmanager
    def _signals(self) -> Iterator[Any]:
        """A session-bus connection subscribed to the Secret Service's signals; yields ``next_signal(timeout)``,
        which returns when one arrives or the timeout passes."""
        from jeepney import MatchRule, message_bus, new_method_call
        from jeepney.io.blocking import open_dbus_connection

        conn = open_dbus_connection("SESSION")
        with self._lock:
            self._sock = conn.sock
        if self._cancelled.is_set():  # cancelled while connecting: the shutdown above may have missed it
            conn.sock.shutdown(socket.SHUT_RDWR)
        try:
            rules = [
                MatchRule(type="signal", sender=SECRETS_BUS_NAME),
                MatchRule(
                    type="signal",
                    interface="org.freedesktop.DBus",
                    member="NameOwnerChanged",
                    path="/org/freedesktop/DBus",
                ),
            ]
            rules[1].add_arg_condition(0, SECRETS_BUS_NAME)
            for rule in rules:
                conn.send_and_get_reply(new_method_call(message_bus, "AddMatch", "s", (rule.serialise(),)))

            def next_signal(timeout: float) -> None:
                try:
                    msg = conn.receive(timeout=timeout)
                except TimeoutError:
                    return
                log.debug("keyring signal: %s", msg.header.fields)

            yield next_signal
        finally:
            with self._lock:
                self._sock = None
            conn.close()
