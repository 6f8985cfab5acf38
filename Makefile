# The two commands of the README: `make run` (set up, start the app) and `make test`
# (set up, run the linter and the tests). Everything they need is installed from here.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
RAY_STAMP := $(VENV)/.installed-ray
# Debian packages the app and tests use: Qt's runtime libraries, fonts for non-Latin notes in
# reports (Noto; Droid Sans Fallback for CJK, which ReportLab can embed), Qt's xcb platform
# plugin's libraries (a window on X11), poppler-utils
# (pdftoppm) for looking at reports, xvfb for screenshots on a machine without a display.
DEB_PACKAGES := libgl1 libegl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libdbus-1-3 \
	libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0 \
	libxcb-shape0 libxcb-randr0 libxcb-xinerama0 libxcb-xkb1 \
	libglib2.0-0 fonts-noto-core fonts-noto-cjk fonts-droid-fallback fonts-dejavu-core \
	poppler-utils xvfb

.PHONY: setup system-deps run test lint bench package clean

setup: system-deps $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[gui,dev,train]"
	touch $@

# The tests also run a batch on a local Ray instance (the optional `ray` extra, ≈ 240 MB).
$(RAY_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e ".[ray]"
	touch $@

# Installs only what is missing; needs root (or sudo) the first time on a bare machine.
system-deps:
	@missing=$$(for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages: $$missing"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

run: setup
	$(PY) -m forensics_app $(ARGS)

lint: $(STAMP)
	$(PY) -m ruff check forensics_app tests bench packaging
	$(VENV)/bin/lint-imports

test: setup $(RAY_STAMP) lint
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q $(PYTEST_ARGS)

bench: setup
	$(PY) bench/bench_analysis.py
	QT_QPA_PLATFORM=offscreen $(PY) bench/bench_player.py

package: setup
	$(PY) -m pip install --quiet -e ".[gui,package]"
	$(PY) -m PyInstaller --noconfirm --distpath dist --workpath build packaging/forensics-app.spec
	QT_QPA_PLATFORM=offscreen dist/forensics-app/forensics-app gui --smoke-test \
		../shared/data/videos/real/liveportrait_d18.mp4

clean:
	rm -rf build dist .pytest_cache .ruff_cache
