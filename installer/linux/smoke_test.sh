#!/bin/bash
# shellcheck disable=SC2016,SC2088  # a script for another shell in single quotes; ~ in messages, as a user reads it
# The Linux package's smoke test (make dist-test), from the built tarball alone. As root:
#   unpack it; install.sh --autostart into a throwaway HOME, with a PATH that has no virtual environment on it and
#   the system's libmagic hidden; the installed `usbsync --version`; a headless `usbsync sync-once` that copies two
#   PNGs (one without an extension: classified by content, so by the bundled libmagic) onto a loop-mounted ext4
#   volume registered with `usbsync register-drive`, and verified there; the installed tray app started on a
#   virtual screen (Xvfb, a tray from trayer), its engine seen running, then SIGTERM: it must exit 0 and take its
#   engine with it; the desktop entries and the systemd unit validated; uninstall.sh, and nothing of the install
#   left behind. Every mount, loop device and process it starts is removed on the way out, also on failure.
#     installer/linux/smoke_test.sh dist/usbsync-<version>-linux-x86_64.tar.gz
set -euo pipefail

TARBALL=$(realpath "${1:?usage: smoke_test.sh TARBALL}")
[ "$(id -u)" = 0 ] || { echo "smoke_test.sh: needs root (loop mounts)" >&2; exit 1; }
for tool in mkfs.ext4 mount umount losetup unshare Xvfb dbus-daemon sha256sum; do
	command -v "$tool" >/dev/null || { echo "smoke_test.sh: missing $tool (make dist-test installs it)" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/usbsync-smoke.XXXXXX)
IMG=$WORK/photos.img
MNT=$WORK/media/PHOTOS
PIDS=() # every background process started here
T0=$(date +%s)

ok() { echo "smoke: ok   $*"; }
fail() {
	echo "smoke: FAIL $*" >&2
	exit 1
}

ours_running() { # processes running a program from the throwaway folder (the installed app, its engine)
	local exe
	for exe in /proc/[0-9]*/exe; do
		case $(readlink "$exe" 2>/dev/null) in "$WORK"/*) exe=${exe#/proc/}; echo "${exe%/exe}" ;; esac
	done
}

cleanup() {
	local status=$? pid
	trap - EXIT INT TERM
	for pid in "${PIDS[@]}" $(ours_running); do kill -TERM "$pid" 2>/dev/null || true; done
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		alive=
		for pid in "${PIDS[@]}" $(ours_running); do kill -0 "$pid" 2>/dev/null && alive=1; done
		[ -z "$alive" ] && break
		sleep 0.5
	done
	for pid in "${PIDS[@]}" $(ours_running); do kill -KILL "$pid" 2>/dev/null || true; done
	if mountpoint -q "$MNT" 2>/dev/null; then umount "$MNT" 2>/dev/null || umount -l "$MNT"; fi
	for loop in $(losetup -j "$IMG" 2>/dev/null | cut -d: -f1); do losetup -d "$loop" 2>/dev/null || true; done
	if [ $status != 0 ]; then
		for f in "$WORK"/*.log; do [ -f "$f" ] && { echo "--- ${f##*/} (last lines)"; tail -n 25 "$f"; } >&2; done
		echo "smoke: FAILED (status $status)" >&2
	fi
	rm -rf "$WORK"
	exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The user's world: a fresh HOME, the system's PATH plus ~/.local/bin (no .venv, no checkout on it).
HOME_DIR=$WORK/home
mkdir -p "$HOME_DIR" "$WORK/run" "$(dirname "$MNT")"
chmod 700 "$WORK/run"
CLEAN_PATH=$HOME_DIR/.local/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
USER_ENV=(env -i HOME="$HOME_DIR" PATH="$CLEAN_PATH" LANG=C.UTF-8 XDG_RUNTIME_DIR="$WORK/run")
as_user() { "${USER_ENV[@]}" "$@"; }

# The system's libmagic and its database hidden (in a mount namespace of the command's own): what the installed
# app classifies by content, it does with what it ships.
SYS_MAGIC=()
for f in /usr/lib/x86_64-linux-gnu/libmagic.so.1 /usr/share/misc/magic.mgc /usr/share/file/magic.mgc \
	/usr/lib/file/magic.mgc; do
	[ -e "$f" ] && SYS_MAGIC+=("$(realpath "$f")")
done
HIDE_MAGIC=(env HIDE="${SYS_MAGIC[*]}" unshare --mount --propagation private sh -c
	'for f in $HIDE; do mount --bind /dev/null "$f"; done; exec "$@"' sh "${USER_ENV[@]}")
as_user_without_system_magic() { "${HIDE_MAGIC[@]}" "$@"; }

tar -C "$WORK" -xzf "$TARBALL"
PKG=$(find "$WORK" -mindepth 1 -maxdepth 1 -type d -name 'usbsync-*-linux-x86_64')
[ -n "$PKG" ] || fail "no usbsync-*-linux-x86_64 folder in $TARBALL"
ok "unpacked ${TARBALL##*/} ($(du -h "$TARBALL" | cut -f1))"

find "$HOME_DIR" | sort >"$WORK/home-before.txt"
as_user sh "$PKG/install.sh" --autostart >"$WORK/install.log" 2>&1 || fail "install.sh exited $?"
LIB=$HOME_DIR/.local/lib/usbsync
ok "install.sh --autostart: $(grep -c . "$LIB/install-manifest") steps in $LIB/install-manifest"

[ "$(as_user sh -c 'command -v usbsync')" = "$HOME_DIR/.local/bin/usbsync" ] ||
	fail "usbsync on the clean PATH is not the installed one"
VERSION=$(as_user usbsync --version)
case ${TARBALL##*/} in "usbsync-${VERSION#usbsync }-linux-x86_64.tar.gz") ;; *) fail "--version says '$VERSION', the tarball is ${TARBALL##*/}" ;; esac
ok "installed 'usbsync --version': $VERSION (the tarball's name says the same)"

if command -v desktop-file-validate >/dev/null; then
	desktop-file-validate "$HOME_DIR/.local/share/applications/usbsync.desktop" "$HOME_DIR/.config/autostart/usbsync.desktop" ||
		fail "desktop-file-validate"
	ok "desktop-file-validate: menu entry and login entry"
fi
for size in $(find "$PKG/share/icons/hicolor" -path '*/apps/*' -type f | awk -F/ '{print $(NF-2)}' | sort); do
	ls "$HOME_DIR/.local/share/icons/hicolor/$size/apps/usbsync."* >/dev/null || fail "icon $size not installed"
done
ok "icons in hicolor: $(find "$HOME_DIR/.local/share/icons/hicolor" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V | tr '\n' ' ')"
if command -v systemd-analyze >/dev/null; then
	out=$(as_user systemd-analyze --user verify "$HOME_DIR/.config/systemd/user/usbsync.service" 2>&1) || true
	[ -z "$out" ] || fail "systemd-analyze verify usbsync.service: $out"
	ok "systemd-analyze --user verify usbsync.service: clean (installed, not enabled)"
fi

# A drive: an ext4 volume, registered as the CLI does it, then two PNGs in the outbox.
truncate -s 64M "$IMG"
mkfs.ext4 -q -L PHOTOS "$IMG"
mkdir -p "$MNT"
mount -o loop "$IMG" "$MNT"
as_user usbsync init >"$WORK/cli.log" 2>&1 || fail "usbsync init"
as_user usbsync register-drive "$MNT" --name Photos --category images >>"$WORK/cli.log" 2>&1 ||
	fail "usbsync register-drive"
ok "ext4 volume on $(findmnt -no SOURCE "$MNT") registered: usbsync register-drive $MNT --name Photos --category images"
cp "$PKG/share/icons/hicolor/64x64/apps/usbsync.png" "$HOME_DIR/Outbox/photo.png"
cp "$PKG/share/icons/hicolor/128x128/apps/usbsync.png" "$HOME_DIR/Outbox/scan" # no extension: content decides
as_user_without_system_magic usbsync sync-once >"$WORK/sync.log" 2>&1 || fail "usbsync sync-once exited $?"
grep -q "2 files copied" "$WORK/sync.log" || fail "sync-once did not copy both files: $(cat "$WORK/sync.log")"
for f in photo.png scan; do
	[ "$(sha256sum <"$MNT/USBSync/$f")" = "$(sha256sum <"$HOME_DIR/Outbox/$f")" ] || fail "$f on the drive differs"
done
as_user usbsync status >"$WORK/status.log" 2>&1
grep -q "0 waiting, 0 failed, 2 synced" "$WORK/status.log" || fail "status: $(cat "$WORK/status.log")"
! grep -rqi -e "libmagic is not available" -e "magic file" "$WORK/sync.log" "$HOME_DIR/.local/state/usbsync" ||
	fail "the installed app did not load its own libmagic and database: $(grep -rhi -e libmagic -e "magic file" "$WORK/sync.log")"
ok "sync-once (system libmagic hidden): $(grep -o '[0-9]* files copied' "$WORK/sync.log"); 'photo.png' and 'scan' identical on the drive; status: $(sed -n 2p "$WORK/status.log" | cut -d'(' -f1)"

# The tray app on a virtual screen with a tray, started as a user would (the link on PATH), then quit.
exec 3>"$WORK/display"
Xvfb -displayfd 3 -screen 0 1280x800x24 -nolisten tcp >"$WORK/xvfb.log" 2>&1 &
PIDS+=($!)
exec 3>&-
for _ in $(seq 50); do [ -s "$WORK/display" ] && break; sleep 0.2; done
DISPLAY=:$(head -n1 "$WORK/display")
[ "$DISPLAY" != : ] || fail "Xvfb did not start"
# A session bus as a desktop has one (without it, libdbus would autolaunch one of its own for the display),
# with no services to activate: nothing but the app's own calls on it.
cat >"$WORK/bus.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=$WORK/run/bus</listen>
  <policy context="default"><allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/><allow own="*"/></policy>
</busconfig>
EOF
dbus-daemon --config-file="$WORK/bus.conf" --nofork >"$WORK/dbus.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do [ -S "$WORK/run/bus" ] && break; sleep 0.1; done
[ -S "$WORK/run/bus" ] || fail "dbus-daemon did not start"
if command -v trayer >/dev/null; then
	env -i DISPLAY="$DISPLAY" HOME="$HOME_DIR" trayer --edge top --align right --SetDockType true >"$WORK/trayer.log" 2>&1 &
	PIDS+=($!)
fi
# A simple command, not a function: $! is then the app itself (unshare, sh and env each exec the next).
"${HIDE_MAGIC[@]}" DISPLAY="$DISPLAY" DBUS_SESSION_BUS_ADDRESS="unix:path=$WORK/run/bus" usbsync-gui >"$WORK/gui.log" 2>&1 &
GUI=$!
PIDS+=("$GUI")
engine=
for _ in $(seq 120); do
	kill -0 "$GUI" 2>/dev/null || { wait "$GUI" || true; fail "usbsync-gui ended on its own"; }
	for pid in $(ours_running); do
		[ "$(readlink "/proc/$pid/exe")" = "$LIB/usbsync" ] && grep -qz -- '--with-parent' "/proc/$pid/cmdline" && engine=$pid
	done
	[ -n "$engine" ] && as_user usbsync status 2>/dev/null | grep -q "is running" && break
	sleep 0.5
done
[ -n "$engine" ] || fail "the tray app's engine (usbsync run --with-parent) did not start"
ok "usbsync-gui on Xvfb $DISPLAY: running, its engine $(tr '\0' ' ' </proc/"$engine"/cmdline)(pid $engine) serving"
sleep 2 # let it settle into its event loop
kill -TERM "$GUI"
code=
for _ in $(seq 80); do
	if ! kill -0 "$GUI" 2>/dev/null; then
		code=0
		wait "$GUI" || code=$?
		break
	fi
	sleep 0.5
done
[ -n "$code" ] || fail "usbsync-gui still running 40 s after SIGTERM"
[ "$code" = 0 ] || fail "usbsync-gui exited $code after SIGTERM"
for _ in $(seq 20); do kill -0 "$engine" 2>/dev/null || break; sleep 0.5; done
! kill -0 "$engine" 2>/dev/null || fail "the engine (pid $engine) outlived the tray app"
! grep -q -e "X11 connection broke" -e Traceback "$WORK/gui.log" || fail "usbsync-gui: $(cat "$WORK/gui.log")"
ok "SIGTERM: usbsync-gui exited 0, its engine with it"

# Uninstall: each install step reversed; what remains is the user's own data, which stays.
[ -z "$(ours_running)" ] || fail "processes still running from the install: $(ours_running)"
as_user sh "$PKG/uninstall.sh" >"$WORK/uninstall.log" 2>&1 || fail "uninstall.sh exited $?"
find "$HOME_DIR" | sort >"$WORK/home-after.txt"
left=$(comm -13 "$WORK/home-before.txt" "$WORK/home-after.txt" | sed "s|^$HOME_DIR|~|")
stray=$(printf '%s\n' "$left" | grep -v -x -E '~/(\.config|\.local|\.local/state|\.cache)' |
	grep -v -E '^~/(\.config/usbsync|\.local/state/usbsync|Outbox|\.cache)(/|$)' || true)
[ -z "$stray" ] || fail "left behind by the uninstall: $stray"
for p in .local/lib .local/bin .local/share .config/autostart .config/systemd; do
	[ ! -e "$HOME_DIR/$p" ] || fail "~/$p is left"
done
ok "uninstall.sh: nothing of the install left; kept the user's $(printf '%s\n' "$left" | grep -c -E '^~/(\.config/usbsync|\.local/state/usbsync|Outbox)(/|$)') files and folders of configuration, state and outbox"
echo "smoke: passed in $(($(date +%s) - T0)) s"
