#!/bin/sh
# Install usbsync for the current user from this unpacked package (no root, nothing outside your home):
#   ~/.local/lib/usbsync/                      the program (usbsync-gui, usbsync and what they need)
#   ~/.local/bin/usbsync, usbsync-gui          links to it
#   ~/.local/share/applications/usbsync.desktop   the menu entry
#   ~/.local/share/icons/hicolor/*/apps/usbsync.*  its icon, at every size in the package
#   ~/.config/systemd/user/usbsync.service     the engine without the tray app (enabled only with --enable-service)
#   ~/.config/autostart/usbsync.desktop        start the tray app at login (only with --autostart)
# Every step is written to ~/.local/lib/usbsync/install-manifest; `install.sh --uninstall` (or uninstall.sh)
# reverses those steps and no others: your configuration, queue and logs stay.
# Installing over an earlier install replaces it and keeps its --autostart and --enable-service choices.
set -eu

usage() {
	cat <<EOF
usage: install.sh [--autostart] [--enable-service] [--prefix DIR]
       install.sh --uninstall [--prefix DIR]

  --autostart       start the tray app when you log in (an XDG autostart entry)
  --enable-service  enable and start the systemd user service that runs the engine without the tray app
                    (usbsync run); it is installed either way, not enabled
  --prefix DIR      install the program in DIR/lib/usbsync with links in DIR/bin (default: ~/.local)
  --uninstall       remove what an earlier install put there (your configuration and queue stay)
EOF
}

die() {
	echo "install.sh: $*" >&2
	exit 1
}
say() { [ -n "$QUIET" ] || echo "$@"; }

AUTOSTART=
ENABLE_SERVICE=
UNINSTALL=
QUIET=
PREFIX=
while [ $# -gt 0 ]; do
	case $1 in
	--autostart) AUTOSTART=1 ;;
	--enable-service) ENABLE_SERVICE=1 ;;
	--uninstall) UNINSTALL=1 ;;
	--quiet) QUIET=1 ;;
	--prefix) [ $# -ge 2 ] || die "--prefix needs a folder"; PREFIX=$2; shift ;;
	--prefix=*) PREFIX=${1#--prefix=} ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
	shift
done

[ -n "${HOME:-}" ] && [ -d "$HOME" ] || die "HOME is not set to a folder"
absolute() { case $1 in /*) printf %s "$1" ;; *) printf %s "$2" ;; esac; }
DATA=$(absolute "${XDG_DATA_HOME:-}" "$HOME/.local/share")
CONF=$(absolute "${XDG_CONFIG_HOME:-}" "$HOME/.config")
PREFIX=${PREFIX:-$HOME/.local}
case $PREFIX in /*) ;; *) PREFIX=$(pwd)/$PREFIX ;; esac
LIB=$PREFIX/lib/usbsync
BIN=$PREFIX/bin
MANIFEST=$LIB/install-manifest
APP_ENTRY=$DATA/applications/usbsync.desktop
LOGIN_ENTRY=$CONF/autostart/usbsync.desktop # the file the app's own "Start at login" writes
UNIT_DIR=$CONF/systemd/user
UNIT=usbsync.service
for p in "$LIB" "$DATA" "$CONF"; do
	case $p in *'
'* | *'"'* | *'\'*) die "cannot install under a path with a newline, a double quote or a backslash: $p" ;; esac
done

user_systemd() { command -v systemctl >/dev/null 2>&1 && systemctl --user show-environment >/dev/null 2>&1; }

# A login entry that starts this installation: the installer's, or the one the app writes for itself.
login_entry_is_ours() { [ -f "$LOGIN_ENTRY" ] && grep -qxF "TryExec=$LIB/usbsync-gui" "$LOGIN_ENTRY"; }

# Reverse the steps listed in manifest $1, last first.
reverse_steps() {
	sed '1!G;h;$!d' "$1" | while IFS=' ' read -r kind path; do
		case $kind in
		dir) rmdir "$path" 2>/dev/null || true ;; # only if it is still empty
		file) rm -f "$path" ;;
		link) if [ -L "$path" ] && [ "$(readlink "$path")" = "$LIB/${path##*/}" ]; then rm -f "$path"; fi ;;
		tree) if [ "$path" = "$LIB" ]; then rm -rf "$path"; fi ;;
		unit) rm -f "$path"; if user_systemd; then systemctl --user daemon-reload || true; fi ;;
		service-enabled) if user_systemd; then systemctl --user disable --now "$path" >/dev/null 2>&1 || true; fi ;;
		autostart) if login_entry_is_ours; then rm -f "$path"; fi ;;
		esac
	done
}

running_here() {
	for exe in /proc/[0-9]*/exe; do
		case $(readlink "$exe" 2>/dev/null) in "$LIB"/*) pid=${exe#/proc/}; printf ' %s' "${pid%/exe}" ;; esac
	done
}

uninstall() {
	[ -f "$MANIFEST" ] || die "no usbsync installed by install.sh in $LIB"
	pids=$(running_here)
	[ -z "$pids" ] || echo "install.sh: usbsync is still running (process$pids): quit the tray app" >&2
	steps=$(mktemp)
	cp "$MANIFEST" "$steps"
	# A login entry the app wrote for this installation (Settings > Start at login) dies with it.
	if login_entry_is_ours && ! grep -q '^autostart ' "$steps"; then echo "autostart $LOGIN_ENTRY" >>"$steps"; fi
	reverse_steps "$steps"
	rm -f "$steps"
	say "usbsync removed from $LIB."
	say "Kept: your configuration, queue and logs (~/.config/usbsync, ~/.local/state/usbsync); delete them to forget everything."
}

if [ -n "$UNINSTALL" ]; then
	uninstall
	exit 0
fi

SRC=$(cd "$(dirname "$0")" && pwd)
[ -x "$SRC/usbsync/usbsync" ] && [ -x "$SRC/usbsync/usbsync-gui" ] || die "run the install.sh of an unpacked usbsync package"
VERSION=$("$SRC/usbsync/usbsync" --version) || die "the packaged usbsync does not start on this machine"

if [ -f "$MANIFEST" ]; then # an earlier install: replace it, with the same choices
	grep -q '^autostart ' "$MANIFEST" && AUTOSTART=1
	login_entry_is_ours && AUTOSTART=1
	grep -q '^service-enabled ' "$MANIFEST" && ENABLE_SERVICE=1
	say "replacing the usbsync installed in $LIB"
	QUIET=1
	uninstall
	QUIET=
elif [ -e "$LIB" ]; then
	die "$LIB exists but was not installed by install.sh: remove it or choose another --prefix"
fi

ICONS=$(cd "$SRC/share/icons" && find hicolor -path '*/apps/usbsync.*' -type f | sort)
# Refuse before changing anything if a file is in the way (e.g. ~/.local/bin/usbsync from `pip install --user`).
in_the_way() {
	if [ -e "$1" ] || [ -L "$1" ]; then die "$1 exists and is not from this installer (a pip install of usbsync?): remove it first"; fi
}
for f in "$BIN/usbsync" "$BIN/usbsync-gui" "$APP_ENTRY" "$UNIT_DIR/$UNIT"; do in_the_way "$f"; done
for icon in $ICONS; do in_the_way "$DATA/icons/$icon"; done

STEPS=$(mktemp)
rollback() {
	status=$?
	if [ $status != 0 ]; then
		echo "install.sh: failed: undoing what was done" >&2
		reverse_steps "$STEPS"
		rm -rf "$LIB.tmp.$$"
	fi
	rm -f "$STEPS"
	exit $status
}
trap rollback EXIT
trap 'exit 1' INT TERM HUP
step() { printf '%s %s\n' "$1" "$2" >>"$STEPS"; }

# mkdir -p that records each folder it creates, so that the uninstall removes exactly those (if left empty).
mkdirs() {
	[ -d "$1" ] && return 0
	mkdirs "$(dirname "$1")"
	mkdir "$1"
	step dir "$1"
}

# A path as an argument of a desktop entry's Exec key (quoted if needed), then escaped as a string value.
exec_arg() {
	case $1 in
	*[!A-Za-z0-9/._+-]*) printf '"%s"' "$(printf %s "$1" | sed -e 's/%/%%/g' -e 's/[\\"`$]/\\&/g')" | sed 's/\\/\\\\/g' ;;
	*) printf %s "$1" ;;
	esac
}

mkdirs "$PREFIX/lib"
cp -a "$SRC/usbsync" "$LIB.tmp.$$"
cp "$SRC/install.sh" "$LIB.tmp.$$/install.sh"
# shellcheck disable=SC2016  # "$0" and "$@" are the uninstall script's own
printf '#!/bin/sh\n# Remove usbsync (your configuration and queue stay).\nexec sh "$(dirname "$0")/install.sh" --uninstall --prefix "%s" "$@"\n' \
	"$PREFIX" >"$LIB.tmp.$$/uninstall.sh"
chmod 755 "$LIB.tmp.$$/install.sh" "$LIB.tmp.$$/uninstall.sh"
mv "$LIB.tmp.$$" "$LIB"
step tree "$LIB"

mkdirs "$BIN"
for name in usbsync usbsync-gui; do
	ln -s "$LIB/$name" "$BIN/$name"
	step link "$BIN/$name"
done

for icon in $ICONS; do
	mkdirs "$DATA/icons/$(dirname "$icon")"
	cp "$SRC/share/icons/$icon" "$DATA/icons/$icon"
	step file "$DATA/icons/$icon"
done

# The menu entry: the app's own (usbsync_gui/resources/usbsync.desktop), started from where it is installed.
mkdirs "$DATA/applications"
EXEC=$(exec_arg "$LIB/usbsync-gui") TRYEXEC=$(printf %s "$LIB/usbsync-gui" | sed 's/\\/\\\\/g') awk '
	/^TryExec=/ { next }
	/^Exec=/ { print "Exec=" ENVIRON["EXEC"]; print "TryExec=" ENVIRON["TRYEXEC"]; next }
	{ print }' "$LIB/_internal/usbsync_gui/resources/usbsync.desktop" >"$APP_ENTRY"
step file "$APP_ENTRY"

mkdirs "$UNIT_DIR"
USBSYNC=$(printf '"%s"' "$(printf %s "$LIB/usbsync" | sed -e 's/%/%%/g' -e 's/\$/$$/g')") awk '{
	i = index($0, "@USBSYNC@")
	if (i) $0 = substr($0, 1, i - 1) ENVIRON["USBSYNC"] substr($0, i + 9)
	print }' "$SRC/share/systemd/usbsync.service.in" >"$UNIT_DIR/$UNIT"
step unit "$UNIT_DIR/$UNIT"
SERVICE_NOTE="installed, not enabled: systemctl --user enable --now $UNIT"
if user_systemd; then
	systemctl --user daemon-reload
	if [ -n "$ENABLE_SERVICE" ]; then
		systemctl --user enable --now "$UNIT"
		step service-enabled "$UNIT"
		SERVICE_NOTE="enabled and started"
	fi
elif [ -n "$ENABLE_SERVICE" ]; then
	SERVICE_NOTE="installed; not enabled: no systemd user session here (in your session: systemctl --user enable --now $UNIT)"
	echo "install.sh: $SERVICE_NOTE" >&2
fi

LOGIN_NOTE="no (the app's Settings can turn it on)"
if [ -n "$AUTOSTART" ]; then
	if [ -e "$LOGIN_ENTRY" ]; then
		LOGIN_NOTE="left as it was: $LOGIN_ENTRY exists and starts another installation"
	else
		mkdirs "$CONF/autostart"
		{ cat "$APP_ENTRY"; echo "X-GNOME-Autostart-enabled=true"; } >"$LOGIN_ENTRY.tmp"
		mv "$LOGIN_ENTRY.tmp" "$LOGIN_ENTRY"
		step autostart "$LOGIN_ENTRY"
		LOGIN_NOTE="yes ($LOGIN_ENTRY)"
	fi
fi

cp "$STEPS" "$MANIFEST"
trap - EXIT
rm -f "$STEPS"

[ "$(id -u)" != 0 ] || say "Note: installed for root (HOME=$HOME); to install for yourself, run install.sh as yourself, without sudo"
say "$VERSION installed in $LIB"
say "  menu entry:      $APP_ENTRY"
say "  commands:        $BIN/usbsync-gui, $BIN/usbsync"
say "  start at login:  $LOGIN_NOTE"
say "  service:         $UNIT_DIR/$UNIT, $SERVICE_NOTE"
say "  uninstall:       $LIB/uninstall.sh"
case ":$PATH:" in *":$BIN:"*) ;; *) say "Note: $BIN is not on your PATH; log out and in again, or start $LIB/usbsync-gui" ;; esac
