#!/bin/sh
# Remove usbsync as install.sh put it there (each of its steps, and no others: your configuration and queue stay).
# The installed copy has one too: ~/.local/lib/usbsync/uninstall.sh.
exec sh "$(dirname "$0")/install.sh" --uninstall "$@"
