import logging
import stat
import sys

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
