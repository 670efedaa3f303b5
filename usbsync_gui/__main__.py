"""`python -m usbsync_gui` runs the command line, like the `usbsync` console script."""

import sys

from usbsync_gui.cli import main

sys.exit(main())
