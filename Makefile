# usbsync developer entry points. `make run` and `make test` work on a fresh Debian 12 machine:
# they create .venv, install what is missing (Debian packages only when run as root), then act.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
APT_PKGS := libmagic1 e2fsprogs exfatprogs exfat-fuse fuse3 fusefat dosfstools util-linux b3sum rsync

.PHONY: run test lint bench deps sysdeps clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

deps: $(STAMP)

# Debian packages the real-filesystem tests and the benchmark need. Only as root, and only the missing ones.
sysdeps:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  missing=$$(for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	  if [ -n "$$missing" ]; then echo "installing Debian packages: $$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; fi; \
	else echo "not root: skipping Debian packages ($(APT_PKGS)); real-filesystem tests will skip"; fi

run: $(STAMP)
	@dpkg -s libmagic1 >/dev/null 2>&1 || $(MAKE) -s sysdeps
	$(VENV)/bin/usbsync run

test: sysdeps $(STAMP)
	$(VENV)/bin/ruff check usbsync_gui tests bench
	$(VENV)/bin/mypy
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check usbsync_gui tests bench
	$(VENV)/bin/ruff format --check usbsync_gui tests bench
	$(VENV)/bin/mypy

bench: sysdeps $(STAMP)
	$(PY) bench/bench_sync.py

clean:
	rm -rf $(VENV) build *.egg-info
