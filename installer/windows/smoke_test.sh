#!/bin/bash
# The Windows installer's smoke test (make windows-test), from the built setup.exe alone, under Wine. As root:
#   a fresh Wine prefix; `setup.exe /S` (files, Start-menu shortcut, Run key, Add/Remove Programs entry with the
#   version); the installed `usbsync.exe --version`; `usbsync.exe sync-once` copying two PNGs and two PDFs (one of
#   each without an extension: classified by content, so by the bundled libmagic) onto two Wine drive letters of
#   the removable kind, each backed by a loop-mounted ext4 volume registered for one category, then `usbsync.exe
#   verify`; the installed tray app on a virtual screen (Xvfb, a tray from trayer, openbox): its engine seen
#   running, the status window and the tray menu opened by clicks on the icon, a screenshot into
#   docs/screenshots/windows-tray-wine.png, then "Quit usbsync" from the menu (the app and its engine end); an upgrade in place (setup.exe /S over the installed app: old files replaced, configuration and
#   start-at-login as they were); `uninstall.exe /S` (program gone, configuration and queue kept); a reinstall and
#   `uninstall.exe /S /REMOVEDATA` (those gone too, the outbox kept).
# Wine-only switches live here, never in the installed app: USBSYNC_QT_NO_DESKTOP_SETTINGS=1 (Wine 8 lacks the
# WinRT class Qt reads the desktop's colours from; see usbsync_gui/gui.py). Every mount, loop device and process
# started here is removed on the way out, also on failure; other Wine prefixes and X servers are not touched.
#     installer/windows/smoke_test.sh dist/usbsync-<version>-windows-x64-setup.exe
set -euo pipefail

SETUP=$(realpath "${1:?usage: smoke_test.sh SETUP.exe}")
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=scripts/windows/common.sh
source "$ROOT/scripts/windows/common.sh"
[ "$(id -u)" = 0 ] || { echo "smoke_test.sh: needs root (loop mounts)" >&2; exit 1; }
for tool in mkfs.ext4 mount losetup Xvfb trayer openbox xdotool xwd xdpyinfo convert sha256sum; do
	command -v "$tool" >/dev/null || { echo "smoke_test.sh: missing $tool (make windows-test installs it)" >&2; exit 1; }
done
SHOT=$ROOT/docs/screenshots/windows-tray-wine.png
VERSION=$(project_version)
WORK=$(mktemp -d /tmp/usbsync-winsmoke.XXXXXX)
PIDS=() # Xvfb, trayer, the tray app's wine
T0=$(date +%s)

ok() { echo "smoke: ok   $*"; }
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; } # seconds since $1 (date +%s.%N)
fail() {
	echo "smoke: FAIL $*" >&2
	exit 1
}

wine_env "$WORK/prefix"
unset DISPLAY WAYLAND_DISPLAY
export DBUS_SESSION_BUS_ADDRESS=disabled: # no session bus autolaunched for the X display (it would outlive us)
WUSER=$(id -un) # Wine's Windows user is the Unix one
LOCAL=$WINEPREFIX/drive_c/users/$WUSER/AppData/Local
ROAMING=$WINEPREFIX/drive_c/users/$WUSER/AppData/Roaming
ours_running() { # processes of this prefix (Wine's own services included)
	local env
	for env in /proc/[0-9]*/environ; do
		grep -qzx "WINEPREFIX=$WINEPREFIX" "$env" 2>/dev/null && { env=${env#/proc/}; echo "${env%/environ}"; }
	done
	return 0
}
app_running() { # the installed app's processes: their Windows command lines, one a line
	local pid
	for pid in $(ours_running); do
		tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -i -e 'usbsync\.exe' -e 'usbsync-gui\.exe' || true
	done
}

cleanup() {
	local status=$? pid
	trap - EXIT INT TERM
	set +e
	[ -d "$WINEPREFIX" ] && wineserver -k 2>/dev/null
	for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	sleep 0.5
	for pid in "${PIDS[@]}" $(ours_running); do kill -KILL "$pid" 2>/dev/null || true; done
	for v in PHOTOS DOCS; do
		if mountpoint -q "$WORK/mnt/$v" 2>/dev/null; then umount "$WORK/mnt/$v" 2>/dev/null || umount -l "$WORK/mnt/$v"; fi
		for loop in $(losetup -j "$WORK/$v.img" 2>/dev/null | cut -d: -f1); do losetup -d "$loop" 2>/dev/null || true; done
	done
	if [ $status != 0 ]; then
		for f in "$WORK"/*.log "$LOCAL/usbsync/Logs/file_watcher.log"; do
			[ -f "$f" ] && { echo "--- ${f##*/} (last lines)"; tail -n 25 "$f"; } >&2
		done
		echo "smoke: FAILED (status $status)" >&2
	fi
	rm -rf "$WORK"
	exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A fresh prefix. Windows sees the setup's folder as I: and nothing else of this machine but the drives below.
wine_prefix
wine_icuuc_stub # Windows' own ICU library, which Wine 8 lacks (test setup; never in the app)
wine_drive i "$(dirname "$SETUP")"
APPDIR=$LOCAL/Programs/usbsync
DATA=$LOCAL/usbsync # platformdirs' configuration, state and log folders
OUTBOX=$WINEPREFIX/drive_c/users/$WUSER/Outbox
UNINST='HKCU\Software\Microsoft\Windows\CurrentVersion\Uninstall\usbsync'
RUN='HKCU\Software\Microsoft\Windows\CurrentVersion\Run'
cd "$WINEPREFIX/drive_c" # a folder Windows sees, for Wine's working directory
ok "fresh Wine prefix ($(wine --version), $(wine_run cmd /c ver | tr -d '\r' | grep -m1 .))"

reg_value() { wine_run reg query "$1" /v "$2" 2>/dev/null | tr -d '\r' | awk -v v="$2" '$1 == v { $1 = ""; $2 = ""; sub(/^  /, ""); print }'; }
install() { # setup.exe with arguments; waits for it
	local t
	t=$(date +%s.%N)
	wine_run "I:\\${SETUP##*/}" "$@" >"$WORK/install.log" || fail "setup.exe $* exited $?"
	wineserver -w
	INSTALL_S=$(since "$t")
}
uninstall() { # the installed uninstaller with arguments. It copies itself to %TEMP% and runs from there, so
	# the call returns at once: wait for every process of the prefix to end.
	local t
	t=$(date +%s.%N)
	wine_run "C:\\users\\$WUSER\\AppData\\Local\\Programs\\usbsync\\uninstall.exe" "$@" >"$WORK/uninstall.log" ||
		fail "uninstall.exe $* exited $?"
	wineserver -w
	UNINSTALL_S=$(since "$t")
}
usbsync() { (cd "$APPDIR" && wine_run ./usbsync.exe "$@") | tr -d '\r'; return "${PIPESTATUS[0]}"; }

# 1. Silent install.
install /S
for f in usbsync.exe usbsync-gui.exe uninstall.exe _internal/magic.mgc _internal/magic/libmagic-1.dll; do
	[ -f "$APPDIR/$f" ] || fail "not installed: $f"
done
[ -f "$ROAMING/Microsoft/Windows/Start Menu/Programs/usbsync.lnk" ] || fail "no Start-menu shortcut"
[ "$(reg_value "$UNINST" DisplayVersion)" = "$VERSION" ] || fail "Add/Remove Programs: DisplayVersion is '$(reg_value "$UNINST" DisplayVersion)'"
run_value=$(reg_value "$RUN" usbsync)
case $run_value in *'\usbsync-gui.exe"') ;; *) fail "the Run key starts '$run_value', not usbsync-gui.exe" ;; esac
no_icuuc_in "$APPDIR" || fail "the installed app carries an icuuc.dll (Wine's test stub, or another)"
ok "setup.exe /S in $INSTALL_S s: $(find "$APPDIR" -type f | wc -l) files, $(du -sh "$APPDIR" | cut -f1) in C:\\users\\$WUSER\\AppData\\Local\\Programs\\usbsync; Start-menu shortcut; Run key: $run_value"
ok "Add/Remove Programs: $(for v in DisplayName DisplayVersion Publisher DisplayIcon QuietUninstallString; do printf '%s=%s; ' $v "$(reg_value "$UNINST" $v)"; done)"

said=$(usbsync --version)
[ "$said" = "usbsync $VERSION" ] || fail "usbsync.exe --version said '$said'"
[ "${SETUP##*/}" = "usbsync-$VERSION-windows-x64-setup.exe" ] || fail "the installer's name ${SETUP##*/} does not carry $VERSION"
ok "installed 'usbsync.exe --version': $said (the installer's name says the same)"

# 2. Two removable drive letters, each an ext4 volume on a loop device: E: PHOTOS for images, F: DOCS for
# documents. Wine takes a letter of type floppy as removable, its serial and label from files in its root.
letter=e
serial=1a2b3c4d
for v in PHOTOS DOCS; do
	truncate -s 32M "$WORK/$v.img"
	mkfs.ext4 -q -L "$v" "$WORK/$v.img"
	mkdir -p "$WORK/mnt/$v"
	mount -o loop "$WORK/$v.img" "$WORK/mnt/$v"
	printf '%s' "$serial" >"$WORK/mnt/$v/.windows-serial"
	printf '%s' "$v" >"$WORK/mnt/$v/.windows-label"
	wine_drive "$letter" "$WORK/mnt/$v"
	wine_drive "$letter:" "$(losetup -j "$WORK/$v.img" | cut -d: -f1)"
	wine_run reg add 'HKLM\Software\Wine\Drives' /v "$letter:" /d floppy /f >/dev/null
	letter=f
	serial=5e6f7a8b
done
usbsync init >"$WORK/cli.log" 2>&1 || fail "usbsync init"
usbsync register-drive 'E:\' --name Photos --category images >>"$WORK/cli.log" 2>&1 || fail "register-drive E:"
usbsync register-drive 'F:\' --name Docs --category documents >>"$WORK/cli.log" 2>&1 || fail "register-drive F:"
grep -q "E:.*removable" <(usbsync list-connected) || fail "E: is not removable: $(usbsync list-connected)"
ok "E: and F: removable, on $(losetup -j "$WORK/PHOTOS.img" | cut -d: -f1) and $(losetup -j "$WORK/DOCS.img" | cut -d: -f1); registered: Photos (images), Docs (documents)"

# The outbox: two PNGs and two PDFs, one of each without an extension (only the content says what it is).
mkdir -p "$OUTBOX"
convert -size 64x48 gradient:blue-white "$OUTBOX/photo.png"
convert -size 80x60 plasma:fractal "PNG:$OUTBOX/scan"
pdf() { printf '%%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n%% %s\ntrailer << /Root 1 0 R >>\n%%%%EOF\n' "$1"; }
pdf report >"$OUTBOX/report.pdf"
pdf letter >"$OUTBOX/letter"
t=$(date +%s.%N)
usbsync sync-once >"$WORK/sync.log" 2>&1 || fail "usbsync sync-once exited $?"
sync_s=$(since "$t")
grep -q "4 files copied" "$WORK/sync.log" || fail "sync-once: $(cat "$WORK/sync.log")"
for f in photo.png:PHOTOS scan:PHOTOS report.pdf:DOCS letter:DOCS; do
	name=${f%:*} vol=${f#*:}
	[ "$(sha256sum <"$WORK/mnt/$vol/USBSync/$name")" = "$(sha256sum <"$OUTBOX/$name")" ] || fail "$name is not (identical) on $vol"
done
[ "$(ls "$WORK/mnt/PHOTOS/USBSync" | tr '\n' ' ')" = "photo.png scan " ] || fail "PHOTOS holds $(ls "$WORK/mnt/PHOTOS/USBSync")"
[ "$(ls "$WORK/mnt/DOCS/USBSync" | tr '\n' ' ')" = "letter report.pdf " ] || fail "DOCS holds $(ls "$WORK/mnt/DOCS/USBSync")"
! grep -qi -e "libmagic is not available" -e "by extension" "$WORK/sync.log" "$DATA/Logs/file_watcher.log" ||
	fail "the installed app did not classify by content: $(grep -hi -e libmagic -e "by extension" "$WORK/sync.log")"
ok "sync-once in $sync_s s: $(grep -o '[0-9]* files copied' "$WORK/sync.log"); E:\\USBSync: $(ls "$WORK/mnt/PHOTOS/USBSync" | tr '\n' ' '); F:\\USBSync: $(ls "$WORK/mnt/DOCS/USBSync" | tr '\n' ' ')(identical)"
usbsync verify Photos >"$WORK/verify.log" 2>&1 || fail "usbsync verify Photos exited $?: $(cat "$WORK/verify.log")"
usbsync verify Docs >>"$WORK/verify.log" 2>&1 || fail "usbsync verify Docs exited $?: $(cat "$WORK/verify.log")"
ok "verify: $(grep -c 'all files match' "$WORK/verify.log") drives, $(grep -h 'read back' "$WORK/verify.log" | sed 's/ (.*//' | paste -sd';')"

# 3. The tray app on a virtual screen with a tray (Xvfb on a free display, trayer).
exec 3>"$WORK/display"
Xvfb -displayfd 3 -screen 0 1280x800x24 -nolisten tcp >"$WORK/xvfb.log" 2>&1 &
PIDS+=($!)
exec 3>&-
for _ in $(seq 50); do [ -s "$WORK/display" ] && break; sleep 0.2; done
DISPLAY=:$(head -n1 "$WORK/display")
export DISPLAY
[ "$DISPLAY" != : ] || fail "Xvfb did not start"
trayer --edge top --align right --SetDockType true --widthtype request --height 32 >"$WORK/trayer.log" 2>&1 &
PIDS+=($!)
export USBSYNC_QT_NO_DESKTOP_SETTINGS=1 # the Wine-only switch (see the top)
# Its output through a pipe, not into a file (see wine_run); the tray app's own log is in its log folder.
log_before=$(wc -l <"$DATA/Logs/file_watcher.log" 2>/dev/null || echo 0)
(cd "$APPDIR" && "$WINE" ./usbsync-gui.exe </dev/null 2>&1 | cat >"$WORK/gui.log") &
PIDS+=($!)
for _ in $(seq 120); do
	app_running | grep -q 'usbsync\.exe.*run --with-parent' && usbsync status 2>/dev/null | grep -q "is running" && break
	sleep 0.5
done
engine=$(app_running | grep 'usbsync\.exe.*run --with-parent' || true)
[ -n "$engine" ] || fail "the tray app's engine (usbsync.exe run --with-parent) did not start: $(app_running)"
ok "usbsync-gui.exe on Xvfb $DISPLAY: running, its engine '$(echo "$engine" | sed 's/ *$//')' serving"
# The screenshot shows the drives as the tray app's engine sees them: wait until it has identified both (its
# "drive X plugged in at" lines since it started), so a slow first identification is not shown as "Not
# plugged in" (seen in 2 of about 5 runs before this wait), and a drive it never sees fails here, by name.
# The engine's log since the tray app started.
log_since_start() { tail -n +"$((log_before + 1))" "$DATA/Logs/file_watcher.log" 2>/dev/null; }
engine_saw() { log_since_start | grep -c -e "drive Photos plugged in at" -e "drive Docs plugged in at"; }
for _ in $(seq 120); do [ "$(engine_saw)" -ge 2 ] && break; sleep 0.5; done
[ "$(engine_saw)" -ge 2 ] || fail "the tray app's engine did not see both drives plugged in within 60 s: $(log_since_start | grep -i -e drive -e volume | tail -8)"
ok "its engine identified both drives: $(log_since_start | grep -o -e "drive [A-Za-z]* plugged in at [A-Z]:[^ ]*" | paste -sd';')"

# The tray icon sits at the right end of trayer's panel (top right of the screen, 32 px high): a click opens
# the status window, a right click the menu.
read -r SCREEN_W _ < <(xdpyinfo -display "$DISPLAY" | awk '/dimensions:/ { sub("x", " ", $2); print $2 }')
ICON_X=$((SCREEN_W - 11)) ICON_Y=16
colours() { # how many colours the screen has in the rectangle WxH+X+Y
	xwd -root -silent -display "$DISPLAY" | convert xwd:- -crop "$1" -format %k info:
}
for _ in $(seq 40); do [ "$(colours "22x32+$((SCREEN_W - 22))+0")" -gt 4 ] && break; sleep 0.5; done
[ "$(colours "22x32+$((SCREEN_W - 22))+0")" -gt 4 ] || fail "no tray icon in trayer's panel"
open_menu() { # right clicks until the menu shows (below the icon: under openbox the first click can be lost)
	for _ in 1 2 3 4; do
		xdotool mousemove $ICON_X $ICON_Y click 3
		sleep 2
		[ "$(colours "140x180+$((SCREEN_W - 145))+60")" -gt 6 ] && return 0
		xdotool key Escape
	done
	fail "the tray menu did not open"
}
# Window frames, as a desktop has. Started after the icon docked: started before the app, the icon never
# appeared in trayer's panel here.
openbox >"$WORK/openbox.log" 2>&1 &
PIDS+=($!)
sleep 2
xdotool mousemove $ICON_X $ICON_Y click 1
sleep 3
open_menu
mkdir -p "$(dirname "$SHOT")"
xwd -root -silent -display "$DISPLAY" | convert xwd:- "$SHOT"
ok "tray icon clicked (status window) and right-clicked (menu); screenshot ${SHOT#"$ROOT"/} ($(identify -format '%wx%h' "$SHOT"))"
# "Quit usbsync", the menu's last item (the keyboard's Up from the top wraps to it).
xdotool key Escape
sleep 1
open_menu
xdotool key Up Return
for _ in $(seq 60); do [ -z "$(app_running)" ] && break; sleep 0.5; done
[ -z "$(app_running)" ] || fail "still running 30 s after Quit: $(app_running)"
! grep -q Traceback "$WORK/gui.log" "$DATA/Logs/file_watcher.log" || fail "a traceback: $(grep -h -A5 Traceback "$WORK/gui.log" "$DATA/Logs/file_watcher.log")"
ok "Quit usbsync (tray menu): usbsync-gui.exe and its engine ended"
wineserver -w

# 4. An upgrade in place: setup.exe /S over the installed app. A stray file in its folder stands for the old
# version's files (they go); start-at-login turned off (as in Settings) stays off; the configuration stays.
touch "$APPDIR/_internal/left-by-an-older-version.dll"
wine_run reg delete "$RUN" /v usbsync /f >/dev/null
cfg_sum=$(sha256sum <"$DATA/config.toml")
install /S
[ ! -e "$APPDIR/_internal/left-by-an-older-version.dll" ] || fail "upgrade: the old version's files are left"
[ "$(usbsync --version)" = "usbsync $VERSION" ] || fail "upgrade: --version"
[ -z "$(reg_value "$RUN" usbsync)" ] || fail "upgrade: start at login was turned back on"
[ "$(sha256sum <"$DATA/config.toml")" = "$cfg_sum" ] || fail "upgrade: the configuration changed"
usbsync status | grep -q "4 synced" || fail "upgrade: the queue and history: $(usbsync status)"
ok "upgrade in place (setup.exe /S over it, $INSTALL_S s): old files replaced; configuration, history and start-at-login (off) kept"

# 5. Silent uninstall: the program, its shortcut, Run value and Add/Remove entry go; the data stays.
uninstall /S
[ ! -e "$APPDIR" ] || fail "uninstall: left $(find "$APPDIR" | head)"
[ ! -e "$ROAMING/Microsoft/Windows/Start Menu/Programs/usbsync.lnk" ] || fail "uninstall: the shortcut is left"
[ -z "$(reg_value "$UNINST" DisplayName)" ] || fail "uninstall: the Add/Remove Programs entry is left"
[ -f "$DATA/config.toml" ] && [ -f "$DATA/state.db" ] || fail "uninstall /S removed the configuration or the queue"
ok "uninstall.exe /S in $UNINSTALL_S s: program, shortcut and Add/Remove entry gone; kept $(find "$DATA" -type f | wc -l) files of configuration, queue and logs in %LOCALAPPDATA%\\usbsync"

# 6. Reinstall, then uninstall /S /REMOVEDATA: the data goes too; the outbox (the user's own files) stays.
install /S /NOAUTOSTART
[ -z "$(reg_value "$RUN" usbsync)" ] || fail "/NOAUTOSTART: the Run key is set"
uninstall /S /REMOVEDATA
[ ! -e "$APPDIR" ] && [ ! -e "$DATA" ] || fail "uninstall /REMOVEDATA: left $(find "$APPDIR" "$DATA" 2>/dev/null | head)"
[ "$(ls "$OUTBOX" | wc -l)" = 4 ] || fail "the outbox lost files"
ok "setup.exe /S /NOAUTOSTART (no Run key), then uninstall.exe /S /REMOVEDATA: program and data gone, the outbox's 4 files kept"
echo "smoke: passed in $(($(date +%s) - T0)) s"
