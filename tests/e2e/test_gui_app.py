"""The real usbsync-gui process: one instance per user, a second start brings the first forward; SIGTERM
stops it cleanly."""

import signal
import subprocess
import sys
from pathlib import Path

from tests.e2e.conftest import stop, wait_for

GUI = str(Path(sys.executable).with_name("usbsync-gui"))


def test_second_start_brings_the_first_forward_and_sigterm_stops_it(usbsync):
    env = {**usbsync.env, "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}
    first = subprocess.Popen([GUI], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(lambda: "watching for drives" in usbsync.log(), timeout=30)
        second = subprocess.run([GUI], env=env, capture_output=True, text=True, timeout=30)
        assert second.returncode == 0, second.stderr
        assert "usbsync is already running: its window was brought forward" in second.stdout
    finally:
        code, out = stop(first, signal.SIGTERM)
    assert code == 0, out
    assert "SIGTERM received: stopping" in out and "Fatal Python error" not in out
