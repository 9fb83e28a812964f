# Neural Aesthetics — the two commands of the README, and what they build on.
#   make demo   bake the demo visualizer and render demo_out/demo.mp4 (with sound), headless
#   make test   the whole test suite on Blender 4.2 LTS and on Blender 5.0
# Each installs what it needs into .venvs/ (bpy wheels from PyPI) the first time.

PYTHON ?= python3
VENVS := .venvs
BLENDER_VERSIONS := 4.2 5.0
PY_5.0 := $(VENVS)/blender-5.0/bin/python
PY_4.2 := $(VENVS)/blender-4.2/bin/python
# A venv is up to date when this copy of its requirements file, inside it, says the same.
STAMP := requirements.installed
PYTEST_ARGS ?=
# A marker expression for both runs, e.g. MARKS='not slow'.
MARKS ?=

.PHONY: demo test test-fast build build-all venvs mesa clean

demo: build
	$(PY_5.0) scripts/demo.py

# The GPU tests draw through Mesa's EGL (llvmpipe on a machine without a GPU): installed
# once when missing (Debian/Ubuntu, as root). Compiled shaders are kept in build/.
MESA_PACKAGES := libegl-mesa0 libgl1-mesa-dri
export MESA_SHADER_CACHE_DIR := $(CURDIR)/build/mesa_shader_cache

mesa:
	@if ! dpkg -s $(MESA_PACKAGES) >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update && apt-get install -y $(MESA_PACKAGES); \
	  else \
	    echo "Mesa's EGL ($(MESA_PACKAGES)) is missing: install it as root for the GPU tests" >&2; \
	  fi; \
	fi

# The tests that drive Blender (tests/conftest.py marks them `bpy`) run on 4.2 and on 5.0;
# of the pure-Python tests, those that need torch (`torch`) run on 5.0, the venv that has
# it, and the others once, on 4.2 (same numpy pin). The two runs go side by side (most tests
# use one core): 4.2's output follows 5.0's. With Mesa installed the GPU tests must run
# (NA_REQUIRE_GPU); without it they skip, saying so.
test: venvs build mesa
	@mkdir -p build; \
	if dpkg -s $(MESA_PACKAGES) >/dev/null 2>&1; then export NA_REQUIRE_GPU=1; \
	else echo "=== no Mesa EGL: the GPU tests will skip, saying so ==="; fi; \
	echo "=== Blender 4.2: the tests that drive Blender and the pure-Python ones, beside 5.0 (build/test-4.2.log) ==="; \
	$(PY_4.2) -m pytest tests -m "(bpy or not torch)$(if $(MARKS), and ($(MARKS)))" $(PYTEST_ARGS) > build/test-4.2.log 2>&1 & \
	pid_42=$$!; \
	echo "=== Blender 5.0: the tests that drive Blender, and those that need torch ==="; \
	$(PY_5.0) -m pytest tests -m "(bpy or torch)$(if $(MARKS), and ($(MARKS)))" $(PYTEST_ARGS); status_50=$$?; \
	wait $$pid_42; status_42=$$?; \
	echo "=== Blender 4.2: the tests that drive Blender and the pure-Python ones ==="; \
	cat build/test-4.2.log; \
	[ $$status_50 -eq 0 ] && [ $$status_42 -eq 0 ]

test-fast:
	$(MAKE) test MARKS='not slow'

venvs: $(VENVS)/blender-4.2/$(STAMP) $(VENVS)/blender-5.0/$(STAMP)

# Make only asks (the requirements file is newer); the venv is rebuilt only when the
# requirements' content differs from what was installed. A symlinked venv is never
# deleted through: each clone builds its own.
$(VENVS)/blender-%/$(STAMP): tests/requirements/blender-%.txt
	@if cmp -s $< $@; then touch $@; exit 0; fi; \
	for link in $(VENVS) $(VENVS)/blender-$*; do \
	  if [ -L "$$link" ]; then echo "$$link is a symlink: remove it, each clone needs its own venvs" >&2; exit 1; fi; \
	done; \
	set -e; rm -rf $(VENVS)/blender-$*; \
	$(PYTHON) -m venv $(VENVS)/blender-$*; \
	$(VENVS)/blender-$*/bin/python -m pip install --quiet -r $<; \
	cp $< $@

# This machine's package only (what the tests and the demo install). Always rebuilt:
# it takes seconds once the wheels are downloaded, and a stale zip would test old code.
build: $(VENVS)/blender-5.0/$(STAMP)
	$(PY_5.0) scripts/build_extension.py --platforms linux-x64

# Every platform's package, for a release.
build-all: $(VENVS)/blender-5.0/$(STAMP)
	$(PY_5.0) scripts/build_extension.py

clean:
	rm -rf build dist demo_out
