# usbsync developer entry points. `make run` and `make test` work on a fresh Debian 12 machine:
# they create .venv, install what is missing (Debian packages only when run as root), then act.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-test
RUN_STAMP := $(VENV)/.installed-run
RUN_PKGS := libmagic1
APT_PKGS := $(RUN_PKGS) e2fsprogs exfatprogs exfat-fuse fuse3 fusefat dosfstools util-linux b3sum rsync \
            dbus gnome-keyring xfsprogs passwd btrfs-progs dunst xvfb udisks2 udev polkitd

.PHONY: run test test-windows faults lint bench deps sysdeps clean screenshots dist dist-test windows windows-test

# The app and its runtime dependencies (make run), plus the test tools (make test), into .venv.
$(RUN_STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	touch $(RUN_STAMP)

$(STAMP): $(RUN_STAMP)
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

deps: $(STAMP)

# Debian packages: PKGS (default: what the real-filesystem tests and the benchmark need). Only as root, and only
# the missing ones.
PKGS ?= $(APT_PKGS)
sysdeps:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  missing=$$(for p in $(PKGS); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done | tr "\n" " "); \
	  if [ -n "$$missing" ]; then echo "installing Debian packages: $$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; fi; \
	else echo "not root: not installing Debian packages ($(PKGS)); tests needing them will skip"; fi

# The tray app; where there is no display it says so and runs the engine in the terminal (usbsync run).
run: $(RUN_STAMP)
	@$(MAKE) -s sysdeps PKGS="$(RUN_PKGS)"
	$(VENV)/bin/usbsync-gui

WIN_MODULES := usbsync_gui/core/replace_file.py usbsync_gui/platform/windows.py usbsync_gui/platform/windows_events.py usbsync_gui/platform/autostart.py \
               usbsync_gui/core/space.py usbsync_gui/platform/thread_priority.py usbsync_gui/core/identity.py

test: sysdeps $(STAMP)
	$(VENV)/bin/ruff check usbsync_gui tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy --platform win32 $(WIN_MODULES)
	QT_QPA_PLATFORM=offscreen USBSYNC_FAULTS=subset $(PY) -m pytest -q

# The unit suite under the official Windows CPython in Wine (installs Wine as root, fetches into build/windows/).
# Arguments for pytest: make test-windows ARGS="tests/unit/test_windows.py -x".
test-windows:
	scripts/windows/test-windows.sh $(ARGS)

# The fault-injection suite at full counts (tests/faults; `make test` runs a seeded subset of it), then
# docs/reliability.md from its results. Replay one run: USBSYNC_FAULT_SEED=<seed> pytest tests/faults -k <fault>.
FAULT_RESULTS := build/faults/results.jsonl
faults: sysdeps $(STAMP)
	mkdir -p $(dir $(FAULT_RESULTS)) && rm -f $(FAULT_RESULTS)
	QT_QPA_PLATFORM=offscreen USBSYNC_FAULTS=full USBSYNC_FAULT_RESULTS=$(FAULT_RESULTS) \
	  $(PY) -m pytest -q tests/faults; status=$$?; \
	  $(PY) scripts/reliability_report.py $(FAULT_RESULTS) --out docs/reliability.md --command "make faults"; \
	  exit $$status

lint: $(STAMP)
	$(VENV)/bin/ruff check usbsync_gui tests bench
	$(VENV)/bin/ruff format --check usbsync_gui tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy --platform win32 $(WIN_MODULES)

bench: sysdeps $(STAMP)
	$(PY) bench/bench_sync.py
	$(PY) bench/bench_flood.py
	$(PY) bench/bench_plug_latency.py
	$(PY) bench/bench_ui_responsiveness.py

# Screenshots of the tray app on a virtual screen (Xvfb, trayer, dunst), into docs/screenshots/. As root.
SHOT_PKGS := xvfb trayer dunst dbus libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxkbcommon-x11-0 \
             exfatprogs exfat-fuse openbox x11-apps x11-utils x11-xserver-utils imagemagick
screenshots: $(STAMP)
	@$(MAKE) -s sysdeps PKGS="$(SHOT_PKGS)"
	$(PY) scripts/screenshots.py

# The Linux download: a one-folder build of usbsync-gui and usbsync (PyInstaller, dist/usbsync/) packed with
# installer/linux/ (install.sh, uninstall.sh, the systemd user unit, the icon at every size) as
# dist/usbsync-<version>-linux-x86_64.tar.gz. The version is usbsync_gui.__version__, its one definition.
# The Qt X11 libraries and libmagic's database are installed first: the build bundles what it finds here.
VERSION = $(shell sed -n 's/^__version__ = "\(.*\)"$$/\1/p' usbsync_gui/__init__.py)
TARBALL := dist/usbsync-$(VERSION)-linux-x86_64.tar.gz
DIST_PKGS := libmagic1 libmagic-mgc libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxkbcommon-x11-0 desktop-file-utils
dist: $(RUN_STAMP)
	@$(MAKE) -s sysdeps PKGS="$(DIST_PKGS)"
	$(PY) -m pip install -q pyinstaller
	$(VENV)/bin/pyinstaller -y --log-level WARN pyinstaller.spec
	QT_QPA_PLATFORM=offscreen sh installer/linux/build_tarball.sh $(PY)

$(TARBALL):
	$(MAKE) dist

# The tarball's smoke test (as root; not part of `make test`): install into a throwaway HOME, --version, a
# sync-once onto a loop-mounted ext4 volume, the tray app on Xvfb and quit, uninstall. Builds the tarball if
# there is none; `make dist dist-test` rebuilds it first.
DIST_TEST_PKGS := xvfb trayer dbus e2fsprogs util-linux desktop-file-utils
dist-test: $(TARBALL)
	@$(MAKE) -s sysdeps PKGS="$(DIST_TEST_PKGS)"
	bash installer/linux/smoke_test.sh $(TARBALL)

# The Windows download, built here: the same spec frozen by the official Windows CPython under Wine (usbsync-gui.exe,
# usbsync.exe) and packed by NSIS (installer/windows/usbsync.nsi) as dist/usbsync-<version>-windows-x64-setup.exe,
# a per-user 64-bit installer. As root on a fresh machine it installs Wine and NSIS; downloads are cached under
# build/windows*/. The venv draws the icon.
SETUP := dist/usbsync-$(VERSION)-windows-x64-setup.exe
windows: $(RUN_STAMP)
	scripts/windows/build-installer.sh $(PY)

$(SETUP):
	$(MAKE) windows

# The installer's smoke test (as root; not part of make windows): a silent install into a fresh Wine prefix,
# usbsync.exe --version, a sync-once onto a Wine drive letter backed by a loop-mounted ext4 volume, the installed
# tray app on Xvfb with a tray (a screenshot into docs/screenshots/windows-tray-wine.png), an upgrade over itself,
# and silent uninstalls (keeping, then removing, the configuration). `make windows windows-test` rebuilds first.
WINDOWS_TEST_PKGS := wine wine64 xvfb trayer openbox e2fsprogs util-linux imagemagick x11-apps x11-utils xdotool fonts-dejavu-core
windows-test: $(SETUP)
	@$(MAKE) -s sysdeps PKGS="$(WINDOWS_TEST_PKGS)"
	bash installer/windows/smoke_test.sh $(SETUP)

clean:
	rm -rf $(VENV) build dist *.egg-info
