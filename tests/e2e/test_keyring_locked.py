"""A locked keyring is not a missing one: real gnome-keyring on a private session bus, real drives.

No prompt (dbus-monitor records every Unlock, CreateCollection and Prompt call: there must be none), no new
secret (no identity.key, no new keyring item), nothing written to a registered drive until the keyring is
unlocked, and then the waiting file goes without restarting usbsync.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import png_bytes
from tests.e2e.conftest import USBSYNC, stop, wait_for
from usbsync_gui.core.paths import app_paths
from usbsync_gui.core.state import StateDB

SECRETS = "org.freedesktop.secrets"
LOGIN = "/org/freedesktop/secrets/collection/login"
LOCKED_MESSAGE = "the keyring is locked: unlock it (log in to the desktop session) and run again"
PROMPTING = ("member='Unlock'", "member='CreateCollection'", "interface='org.freedesktop.Secret.Prompt'")


@dataclass
class KeyringSession:
    """A private D-Bus session bus with gnome-keyring on it, and what a desktop would do to it."""

    env: dict[str, str]
    monitor_log: Path

    def _conn(self):
        from jeepney.io.blocking import open_dbus_connection

        return open_dbus_connection(self.env["DBUS_SESSION_BUS_ADDRESS"])

    def _call(self, path: str, iface: str, member: str, sig: str, *body):
        from jeepney import DBusAddress, new_method_call

        with self._conn() as conn:
            msg = new_method_call(DBusAddress(path, SECRETS, iface), member, sig, body)
            reply = conn.send_and_get_reply(msg, timeout=10)
            assert reply.header.message_type.name == "method_return", reply.body
            return reply.body

    def _master(self, password: str):
        """(session, params, value, content type) for gnome-keyring's master-password calls, plain session."""
        from jeepney import DBusAddress, new_method_call

        conn = self._conn()
        svc = DBusAddress("/org/freedesktop/secrets", SECRETS, "org.freedesktop.Secret.Service")
        session = conn.send_and_get_reply(
            new_method_call(svc, "OpenSession", "sv", ("plain", ("s", "")))
        ).body[1]
        return conn, (session, b"", password.encode(), "text/plain")

    def lock(self) -> None:
        self._call("/org/freedesktop/secrets", "org.freedesktop.Secret.Service", "Lock", "ao", [LOGIN])

    def unlock(self, password: str) -> None:
        """What logging in does: unlock the login keyring with its password (no prompt involved)."""
        from jeepney import DBusAddress, new_method_call

        conn, master = self._master(password)
        with conn:
            iface = "org.gnome.keyring.InternalUnsupportedGuiltRiddenInterface"
            addr = DBusAddress("/org/freedesktop/secrets", SECRETS, iface)
            r = conn.send_and_get_reply(
                new_method_call(addr, "UnlockWithMasterPassword", "o(oayays)", (LOGIN, master))
            )
            assert r.header.message_type.name == "method_return", r.body

    def create_login(self, password: str) -> None:
        """What a first login does: create the login keyring (it becomes the default)."""
        from jeepney import DBusAddress, new_method_call

        conn, master = self._master(password)
        with conn:
            iface = "org.gnome.keyring.InternalUnsupportedGuiltRiddenInterface"
            addr = DBusAddress("/org/freedesktop/secrets", SECRETS, iface)
            props = {"org.freedesktop.Secret.Collection.Label": ("s", "login")}
            r = conn.send_and_get_reply(
                new_method_call(addr, "CreateWithMasterPassword", "a{sv}(oayays)", (props, master))
            )
            assert r.header.message_type.name == "method_return", r.body

    def collections(self) -> list[str]:
        ((_sig, value),) = self._call(
            "/org/freedesktop/secrets",
            "org.freedesktop.DBus.Properties",
            "Get",
            "ss",
            "org.freedesktop.Secret.Service",
            "Collections",
        )
        return sorted(value)

    def usbsync_items(self) -> int:
        """usbsync's items in every collection, locked or not (SearchItems lists locked ones without secrets)."""
        unlocked, locked = self._call(
            "/org/freedesktop/secrets",
            "org.freedesktop.Secret.Service",
            "SearchItems",
            "a{ss}",
            {"service": "usbsync"},
        )
        return len(unlocked) + len(locked)

    def prompting_calls(self) -> list[str]:
        text = self.monitor_log.read_text(errors="replace")
        return [
            ln
            for ln in text.splitlines()
            if ln.startswith("method call")
            and (
                "member=Unlock;" in ln
                or ln.endswith("member=Unlock")
                or "member=CreateCollection" in ln
                or "interface=org.freedesktop.Secret.Prompt" in ln
            )
        ]


def _need_tools() -> None:
    missing = [t for t in ("dbus-daemon", "dbus-monitor", "gnome-keyring-daemon") if shutil.which(t) is None]
    if missing:
        pytest.skip(
            f"missing tools: {', '.join(missing)} (make test installs dbus and gnome-keyring as root)"
        )


def _start_session(
    tmp_path: Path, base_env: dict[str, str], password: str | None
) -> Iterator[KeyringSession]:
    _need_tools()
    run = tmp_path / "run"
    tmp_path.mkdir(exist_ok=True)
    run.mkdir(mode=0o700)
    env = {
        **base_env,
        "HOME": str(tmp_path),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_RUNTIME_DIR": str(run),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    out = subprocess.run(
        ["dbus-daemon", "--session", "--fork", "--print-address=1", "--print-pid=1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    ).stdout.split()
    address, bus_pid = out[0], int(out[1])
    env["DBUS_SESSION_BUS_ADDRESS"] = address
    pids = [bus_pid]
    monitor = None
    try:
        args = ["gnome-keyring-daemon", "--components=secrets"]
        args += ["--unlock"] if password is not None else ["--start"]
        subprocess.run(
            args, input=password or "", env=env, capture_output=True, text=True, timeout=15, check=True
        )
        kr = subprocess.run(["pgrep", "-f", "-x", " ".join(args)], capture_output=True, text=True)
        pids += [int(p) for p in kr.stdout.split()]
        log = tmp_path / "dbus-monitor.log"
        monitor = subprocess.Popen(
            ["dbus-monitor", "--address", address, *PROMPTING],
            env=env,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
        )
        wait_for(lambda: "NameAcquired" in log.read_text(errors="replace"), timeout=10)
        yield KeyringSession(env, log)
    finally:
        if monitor is not None:
            monitor.terminate()
            monitor.wait(5)
        for pid in reversed(pids):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)


@pytest.fixture
def login_keyring(tmp_path, usbsync) -> Iterator[KeyringSession]:
    """gnome-keyring started as a login does: the login keyring made with the password and unlocked."""
    yield from _start_session(tmp_path / "kr", usbsync.env, "pw")


@pytest.fixture
def no_default_keyring(tmp_path, usbsync) -> Iterator[KeyringSession]:
    """gnome-keyring on a session without a login keyring (a virtual desktop): no default collection."""
    yield from _start_session(tmp_path / "kr", usbsync.env, None)


def _run(session: KeyringSession, usbsync, *args: str, check: int) -> subprocess.CompletedProcess[str]:
    t0 = time.monotonic()
    p = subprocess.run([USBSYNC, *args], env=session.env, capture_output=True, text=True, timeout=20)
    assert time.monotonic() - t0 < 15, f"usbsync {args[0]} took {time.monotonic() - t0:.1f} s"
    assert p.returncode == check, f"usbsync {' '.join(args)} -> {p.returncode}\n{p.stdout}\n{p.stderr}"
    assert "Traceback" not in p.stderr, p.stderr
    return p


def _notices(usbsync) -> list[str]:
    with StateDB(app_paths({"USBSYNC_HOME": str(usbsync.home)}).state_db) as db:
        return [n.kind for n in db.notices()]


def test_locked_login_keyring_no_prompt_no_new_secret_then_unlock_copies(usbsync, make_drive, login_keyring):
    kr = login_keyring
    stick = make_drive("STICK")
    _run(
        kr,
        usbsync,
        "register-drive",
        str(stick.mountpoint),
        "--name",
        "Photos",
        "--category",
        "images",
        check=0,
    )
    assert kr.usbsync_items() == 1
    kr.lock()
    key_file = usbsync.home / "state" / "identity.key"

    # The command line: a clear line, no prompt, no new secret; register-drive refuses.
    p = _run(
        kr,
        usbsync,
        "register-drive",
        str(stick.mountpoint),
        "--name",
        "Photos",
        "--category",
        "images",
        check=2,
    )
    assert p.stderr.strip() == f"usbsync: {LOCKED_MESSAGE}"
    (usbsync.source / "a.png").write_bytes(png_bytes(1))
    p = _run(kr, usbsync, "sync-once", check=2)
    assert LOCKED_MESSAGE in p.stderr and stick.files() == {}
    p = _run(kr, usbsync, "list-connected", "--json", check=0)
    assert LOCKED_MESSAGE in p.stderr
    vol = next(v for v in json.loads(p.stdout)["volumes"] if v["mountpoint"] == str(stick.mountpoint))
    assert vol["status"] == "keyring locked" and vol["drive"] is None

    # The engine: starts at once, waits for the unlock, writes nothing meanwhile.
    proc = subprocess.Popen(
        [USBSYNC, "run"], env=kr.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        wait_for(
            lambda: "keyring locked: unlock your keyring; drives are not written until then" in usbsync.log(),
            15,
        )
        wait_for(lambda: "watching for drives" in usbsync.log(), 15)
        (usbsync.source / "b.png").write_bytes(png_bytes(2))
        wait_for(lambda: "keyring_locked" in _notices(usbsync), 10)
        json_jobs: list = []

        def both_pending() -> bool:
            nonlocal json_jobs
            q = subprocess.run(
                [USBSYNC, "pending", "--json"], env=kr.env, capture_output=True, text=True, timeout=20
            )
            json_jobs = json.loads(q.stdout)["jobs"]
            return len(json_jobs) == 2

        wait_for(both_pending, 15)
        time.sleep(1.0)  # a copy would have started by now
        assert stick.files() == {}
        assert not key_file.exists() and kr.usbsync_items() == 1

        kr.unlock("pw")  # what logging in does
        wait_for(lambda: stick.files() == {"a.png": png_bytes(1), "b.png": png_bytes(2)}, 15)
        wait_for(lambda: "keyring_locked" not in _notices(usbsync), 10)
    finally:
        rc, out = stop(proc)
    assert rc == 0, out
    assert "Traceback" not in out
    assert usbsync.log().count("keyring locked: unlock your keyring") == 1
    assert not key_file.exists() and kr.usbsync_items() == 1
    assert kr.prompting_calls() == []


def test_no_default_keyring_no_prompt_and_nothing_created_until_there_is_one(usbsync, no_default_keyring):
    kr = no_default_keyring
    before = kr.collections()
    key_file = usbsync.home / "state" / "identity.key"
    p = _run(kr, usbsync, "list-connected", check=0)
    assert LOCKED_MESSAGE in p.stderr
    proc = subprocess.Popen(
        [USBSYNC, "run"], env=kr.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        wait_for(lambda: "keyring locked: unlock your keyring" in usbsync.log(), 15)
        wait_for(lambda: "watching for drives" in usbsync.log(), 15)
        assert kr.collections() == before and kr.usbsync_items() == 0 and not key_file.exists()
        assert kr.prompting_calls() == []
        kr.create_login("pw")  # the user logs in to a desktop that makes the login keyring
        wait_for(lambda: "keyring unlocked: drive identity secret: keyring" in usbsync.log(), 15)
    finally:
        rc, out = stop(proc)
    assert rc == 0, out
    assert kr.usbsync_items() == 1 and not key_file.exists()
    assert kr.prompting_calls() == []
