#!/usr/bin/env bash
# make windows: the frozen Windows app and its installer, built on Linux.
#   1. PyInstaller (pyinstaller.spec) run by the official Windows CPython under Wine: usbsync-gui.exe (windowed),
#      usbsync.exe (console), with the icon and a version resource, libmagic's DLL and database
#      (python-magic-standalone) and keyring's Windows backend (pywin32-ctypes);
#   2. NSIS (Debian's makensis, native) packs it with installer/windows/usbsync.nsi as
#      dist/usbsync-<version>-windows-x64-setup.exe.
# Everything fetched is cached under build/windows/ (shared with make test-windows) and build/windows-pkg/:
#   prefix/  a private 64-bit Wine prefix     python/  the embeddable CPython with the app's dependencies and
#   wheels/  win_amd64 wheels                          PyInstaller (no test packages)
#   src/     the part of the checkout PyInstaller reads, and its output (src/dist/usbsync/: the frozen folder)
# Windows sees python/ as P:, wheels/ as K:, src/ as S:, and nothing else of this machine.
#     scripts/windows/build-installer.sh PYTHON     (PYTHON: a Linux Python with PySide6, to draw the icon)
set -euo pipefail

HOST_QT_PY=${1:?usage: build-installer.sh PYTHON}
HOST_QT_PY=$(cd "$(dirname "$HOST_QT_PY")" && pwd)/$(basename "$HOST_QT_PY") # absolute (we cd), venv link kept
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=scripts/windows/common.sh
source "$ROOT/scripts/windows/common.sh"
B=${USBSYNC_WINDOWS_PKG_BUILD:-$ROOT/build/windows-pkg}
VERSION=$(project_version)
[ -n "$VERSION" ] || { echo "build-installer.sh: no __version__ in usbsync_gui/__init__.py" >&2; exit 1; }
SETUP=$ROOT/dist/usbsync-$VERSION-windows-x64-setup.exe
T0=$(date +%s)

need_debs wine wine64 nsis python3-venv
wine_env "$B/prefix"
cleanup() { wineserver -k 2>/dev/null || true; }  # this prefix's wineserver only
trap cleanup EXIT
unset DISPLAY WAYLAND_DISPLAY # nothing here opens a window
mkdir -p "$B/wheels" "$B/src"
cd "$B/src" # a folder Windows sees (S:), for Wine's working directory

host_venv
wine_prefix
wine_icuuc_stub # PySide6 6.10+ needs icuuc.dll to load (and PyInstaller imports it): Wine 8 has none
embed_python "$B/python"
wine_drive p "$B/python"
wine_drive k "$B/wheels"
wine_drive s "$B/src"
# This machine's pip settings (find-links folders of Linux paths) are not for the Windows pip.
winpy() { env -u PIP_FIND_LINKS -u PIP_CERT "$WINE" "$B/python/python.exe" "$@" 2>&1 </dev/null | cat; return "${PIPESTATUS[0]}"; }

# Windows wheels: the app's dependencies (from pyproject.toml) and PyInstaller. pip judges environment markers
# for Linux here, so the Windows-only ones are named by hand: python-magic-standalone (ours), pywin32-ctypes
# (keyring's Windows backend, and PyInstaller's), pefile (PyInstaller's). The Windows pip below picks what
# Windows needs.
cp "$ROOT/installer/windows/constraints.txt" "$B/wheels/constraints.txt"
"$HOSTPY" - "$ROOT/pyproject.toml" >"$B/wheels/requirements.txt" <<'EOF'
import sys, tomllib
deps = tomllib.load(open(sys.argv[1], "rb"))["project"]["dependencies"]
print("\n".join([*deps, "python-magic-standalone", "pywin32-ctypes", "pefile", "pyinstaller", "pip"]))
EOF
key=$(cat "$B/wheels/requirements.txt" "$B/wheels/constraints.txt" | sha256sum | cut -c1-16)
if ! [ -f "$B/wheels/.key-$key" ]; then
	step "Windows wheels"
	rm -f "$B"/wheels/.key-*
	"$HOSTPY" -m pip download -q -d "$B/wheels" --platform win_amd64 --python-version "$PYVER" --implementation cp \
		--abi "cp${PYVER/./}" --abi abi3 --abi none --only-binary=:all: \
		-c "$B/wheels/constraints.txt" -r "$B/wheels/requirements.txt"
	touch "$B/wheels/.key-$key"
fi
# Installed by the Windows pip (markers judged for Windows). New requirements: site-packages starts empty.
SITE=$B/python/Lib/site-packages
if [ "$(cat "$B/python/.deps" 2>/dev/null)" != "$key" ]; then
	step "dependencies and PyInstaller into the Windows CPython"
	rm -rf "$SITE" "$B/python/Scripts"
	mkdir -p "$SITE"
	"$HOSTPY" -m zipfile -e "$(ls "$B"/wheels/pip-*.whl | sort -V | tail -1)" "$SITE"
	winpy -m pip --disable-pip-version-check --no-color install -q --no-index --find-links 'K:\' \
		-c 'K:\constraints.txt' -r 'K:\requirements.txt'
	echo "$key" >"$B/python/.deps"
fi

# What PyInstaller reads: the package, the spec, the runtime hook, the icon (drawn here from usbsync.svg).
step "PyInstaller $(winpy -m PyInstaller --version | tr -d '\r') under Wine, usbsync $VERSION"
rm -rf "$B/src/usbsync_gui" "$B/src/installer" "$B/src/dist"
mkdir -p "$B/src/installer/windows/build"
cp -r "$ROOT/usbsync_gui" "$ROOT/pyinstaller.spec" "$B/src/"
find "$B/src/usbsync_gui" -name __pycache__ -prune -exec rm -rf {} +
cp "$ROOT/installer/pyi_rth_magic.py" "$B/src/installer/"
QT_QPA_PLATFORM=offscreen "$HOST_QT_PY" "$ROOT/installer/windows/make_ico.py" "$B/src/installer/windows/build/usbsync.ico"
t=$(date +%s)
# (PyInstaller cannot find Windows' API-set DLLs under Wine, and says so for every DLL; they are part of Windows.)
(cd "$B/src" && winpy -m PyInstaller -y --log-level WARN --distpath 'S:\dist' --workpath 'S:\work' \
	'S:\pyinstaller.spec') | { grep -v -e '^\s*$' -e "could not resolve 'api-ms-win-" || true; } || {
	echo "build-installer.sh: PyInstaller failed" >&2
	exit 1
}
APP=$B/src/dist/usbsync
for f in usbsync.exe usbsync-gui.exe _internal/magic.mgc _internal/magic/libmagic-1.dll; do
	[ -f "$APP/$f" ] || { echo "build-installer.sh: $f is not in the frozen app" >&2; exit 1; }
done
no_icuuc_in "$APP" || exit 1 # Windows' own icuuc.dll serves the app; Wine's stub stays in the prefix
said=$(cd "$APP" && wine_run ./usbsync.exe --version | tr -d '\r')
[ "$said" = "usbsync $VERSION" ] || { echo "build-installer.sh: usbsync.exe --version said '$said'" >&2; exit 1; }
echo "frozen app: $APP ($(du -sh "$APP" | cut -f1), $(find "$APP" -type f | wc -l) files), PyInstaller $(($(date +%s) - t)) s; usbsync.exe --version: $said"

# The installer. VIProductVersion wants four numbers: 0.1.0 -> 0.1.0.0, 1.2.0rc1 -> 1.2.0.0.
step "NSIS $(makensis -VERSION)"
nums=$(echo "$VERSION" | grep -o '[0-9]\+' | head -4 | tr '\n' '.')
nums=${nums%.}
while [ "$(echo "$nums" | tr -cd . | wc -c)" -lt 3 ]; do nums=$nums.0; done
mkdir -p "$ROOT/dist"
makensis -V2 -INPUTCHARSET UTF8 -DVERSION="$VERSION" -DVERSION4="$nums" -DAPPDIR="$APP" \
	-DICON="$B/src/installer/windows/build/usbsync.ico" -DOUTFILE="$SETUP.tmp" "$ROOT/installer/windows/usbsync.nsi"
mv "$SETUP.tmp" "$SETUP"
echo "${SETUP#"$ROOT"/}: $(du -h "$SETUP" | cut -f1) ($(stat -c %s "$SETUP") bytes); make windows took $(($(date +%s) - T0)) s"
