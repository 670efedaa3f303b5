import logging
import os
import stat
import sys

import pytest

from usbsync_gui.core.identity import SecretStore, make_token, token_matches


def test_token_binds_id_and_volume():
    secret = b"s" * 32
    t = make_token(secret, "drive1", "7FC7-EC41")
    assert token_matches(secret, "drive1", "7fc7-ec41", t)  # serials compare case-insensitively
    assert not token_matches(secret, "drive1", "1234-ABCD", t)  # another volume (copied marker, re-format)
    assert not token_matches(secret, "drive2", "7FC7-EC41", t)
    assert not token_matches(b"x" * 32, "drive1", "7FC7-EC41", t)  # another installation
    assert not token_matches(secret, "drive1", "", t)  # volume id unreadable: never trusted
    assert not token_matches(secret, "drive1", "7FC7-EC41", None)  # format-1 marker without a token


def test_fallback_file_is_private_stable_and_warned_once_per_installation(tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    a = SecretStore(tmp_path, use_keyring=False)
    first = a.secret()
    assert len(first) == 32
    if sys.platform == "win32":  # the mode means nothing there: the DACL must let no one but the user in
        import re

        from usbsync_gui.platform.windows import file_dacl, private_dacl

        user = private_dacl().rsplit(";", 1)[1].rstrip(")")
        assert user.startswith("S-1-")

        def trustees(path):  # the SIDs the DACL's entries allow in ("SY" is the OS itself)
            dacl = file_dacl(str(path))
            assert dacl.startswith("D:") and "(D;" not in dacl, dacl
            return set(re.findall(r"\(A;[^;]*;[^;]*;[^;]*;[^;]*;([^)]*)\)", dacl))

        plain = tmp_path / "plain.txt"
        plain.write_text("x")
        assert trustees(plain) - {user, "SY"}, "a new file here lets others in: the check would prove nothing"
        # Real Windows keeps the protected one-entry DACL; Wine 8 keeps mode bits and reads back SY + the user.
        assert trustees(a.fallback_file) - {"SY"} == {user}
    else:
        assert stat.S_IMODE(a.fallback_file.stat().st_mode) == 0o600
    assert SecretStore(tmp_path, use_keyring=False).secret() == first
    warnings = [r for r in caplog.records if "no OS keyring" in r.getMessage()]
    assert len(warnings) == 1 and str(a.fallback_file) in warnings[0].getMessage()
    assert a.where == str(a.fallback_file)


def test_no_working_keyring_falls_back_to_the_file(tmp_path, monkeypatch):
    import keyring
    from keyring.backends import fail

    monkeypatch.setattr(keyring, "get_keyring", lambda: fail.Keyring())
    s = SecretStore(tmp_path)
    assert len(s.secret()) == 32 and s.where == str(s.fallback_file)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the shortcut is Linux's (no session bus)")
def test_keyring_not_asked_where_it_can_only_end_in_the_file(tmp_path, monkeypatch):
    """A headless session (no bus, no display) with the fallback file already there: keyring's detection (0.1-0.2
    s of imports at each sync-once) is skipped, and the secret is the file's. With a session bus it is asked,
    so a keyring that appeared since still gets the file's secret moved into it."""
    import keyring
    from keyring.backends import fail

    first = SecretStore(tmp_path, use_keyring=False).secret()  # the file, as a headless first run makes it
    for var in ("DBUS_SESSION_BUS_ADDRESS", "DISPLAY", "WAYLAND_DISPLAY", "PYTHON_KEYRING_BACKEND"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    asked: list[int] = []

    def detect() -> fail.Keyring:
        asked.append(1)
        return fail.Keyring()

    monkeypatch.setattr(keyring, "get_keyring", detect)
    if not os.path.exists(f"/run/user/{os.getuid()}/bus"):
        assert SecretStore(tmp_path).secret() == first and asked == []
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent")
    assert SecretStore(tmp_path).secret() == first and asked == [1]
    (tmp_path / "config" / "python_keyring").mkdir(parents=True)
    (tmp_path / "config" / "python_keyring" / "keyringrc.cfg").write_text("[backend]\n")
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS")
    assert SecretStore(tmp_path).secret() == first and asked == [1, 1]
