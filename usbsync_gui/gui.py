"""``usbsync-gui``: reserved for the tray application (not in this version yet).

Until it lands, it says so and runs the same engine as ``usbsync run`` in the foreground, so a desktop launcher
or autostart entry already keeps files syncing.
"""

from __future__ import annotations

import sys

from usbsync_gui.cli import main as cli_main


def main() -> int:
    print(
        "usbsync-gui: the tray application is not part of this version yet; running the engine in the "
        "foreground instead (same as 'usbsync run'; Ctrl+C stops it)",
        file=sys.stderr,
    )
    return cli_main(["run", *sys.argv[1:]])
