# Neural Aesthetics — the two commands of the README, and what they build on.
#   make demo   bake the demo visualizer and render demo_out/demo.mp4 (with sound), headless
#   make test   the whole test suite on Blender 4.2 LTS and on Blender 5.0
# Each installs what it needs into .venvs/ (bpy wheels from PyPI) the first time.

PYTHON ?= python3
VENVS := .venvs
BLENDER_VERSIONS := 4.2 5.0
PY_5.0 := $(VENVS)/blender-5.0/bin/python
PY_4.2 := $(VENVS)/blender-4.2/bin/python
PYTEST_ARGS ?=

.PHONY: demo test test-fast build build-all venvs clean

demo: build
	$(PY_5.0) scripts/demo.py

test: venvs build
	@status=0; for v in $(BLENDER_VERSIONS); do \
	  echo "=== Blender $$v ==="; \
	  $(VENVS)/blender-$$v/bin/python -m pytest tests $(PYTEST_ARGS) || status=1; \
	done; exit $$status

test-fast:
	$(MAKE) test PYTEST_ARGS='-m "not slow"'

venvs: $(PY_4.2) $(PY_5.0)

$(VENVS)/blender-%/bin/python: tests/requirements/blender-%.txt
	rm -rf $(VENVS)/blender-$*
	$(PYTHON) -m venv $(VENVS)/blender-$*
	$(VENVS)/blender-$*/bin/python -m pip install --quiet -r $<
	touch $@

# This machine's package only (what the tests and the demo install). Always rebuilt:
# it takes seconds once the wheels are downloaded, and a stale zip would test old code.
build: $(PY_5.0)
	$(PY_5.0) scripts/build_extension.py --platforms linux-x64

# Every platform's package, for a release.
build-all: $(PY_5.0)
	$(PY_5.0) scripts/build_extension.py

clean:
	rm -rf build dist demo_out
