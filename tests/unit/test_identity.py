import logging
import stat

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
