#!/bin/sh
# Package the PyInstaller folder (dist/usbsync/, from pyinstaller.spec) as the Linux download:
#   dist/usbsync-<version>-linux-x86_64.tar.gz, one folder usbsync-<version>-linux-x86_64/ holding
#   install.sh, uninstall.sh, usbsync/ (the frozen app), share/icons/hicolor/ and share/systemd/usbsync.service.in.
# The version is the frozen app's own (`usbsync --version`, from usbsync_gui.__version__): defined once.
#     installer/linux/build_tarball.sh PYTHON      (PYTHON: one with PySide6, to draw the PNG icons)
set -eu
PY=${1:?usage: build_tarball.sh PYTHON}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
APP=$ROOT/dist/usbsync
[ -x "$APP/usbsync" ] || { echo "build_tarball.sh: no $APP/usbsync: run pyinstaller pyinstaller.spec first" >&2; exit 1; }
VERSION=$("$APP/usbsync" --version | awk '{print $2}')
case $VERSION in [0-9]*) ;; *) echo "build_tarball.sh: cannot read the version from $APP/usbsync" >&2; exit 1 ;; esac
[ "$(uname -m)" = x86_64 ] || { echo "build_tarball.sh: this builds the x86_64 package only" >&2; exit 1; }
NAME=usbsync-$VERSION-linux-x86_64
STAGE=$ROOT/build/linux-tarball
rm -rf "$STAGE"
mkdir -p "$STAGE/$NAME/share/systemd"
cp -a "$APP" "$STAGE/$NAME/usbsync"
cp "$HERE/install.sh" "$HERE/uninstall.sh" "$STAGE/$NAME/"
chmod 755 "$STAGE/$NAME/install.sh" "$STAGE/$NAME/uninstall.sh"
cp "$HERE/usbsync.service.in" "$STAGE/$NAME/share/systemd/"
"$PY" "$HERE/render_icons.py" "$STAGE/$NAME/share/icons"
# The bundled libmagic and its database: the installed app must not need the system's libmagic1.
for f in libmagic.so.1 magic.mgc; do
	[ -f "$STAGE/$NAME/usbsync/_internal/$f" ] || { echo "build_tarball.sh: $f is not in the frozen app" >&2; exit 1; }
done
if command -v desktop-file-validate >/dev/null; then
	desktop-file-validate "$ROOT/usbsync_gui/resources/usbsync.desktop"
fi
mkdir -p "$ROOT/dist"
tar -C "$STAGE" --owner=0 --group=0 --numeric-owner -czf "$ROOT/dist/$NAME.tar.gz.tmp" "$NAME"
mv "$ROOT/dist/$NAME.tar.gz.tmp" "$ROOT/dist/$NAME.tar.gz"
rm -rf "$STAGE"
echo "dist/$NAME.tar.gz: $(du -h "$ROOT/dist/$NAME.tar.gz" | cut -f1)"
