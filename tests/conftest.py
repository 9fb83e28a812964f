"""Test set-up shared by every test module.

Two ways in:
- The pure-Python tests import ``neural_aesthetics.core...``: a package object that
  points at the repository root without executing its ``__init__.py`` (which needs bpy).
- Where bpy is importable (the test venvs of `make test`), the session first installs the
  extension package built by Blender's own tool into a throw-away ``HOME``, exactly as a
  user's Blender would, and enables it. The light dependencies (soundfile, scipy, Pillow)
  then come from the wheels inside that package: the venvs do not have them (they have
  PyAV, at the bundled version, to check rendered videos).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import types

import pytest

from helpers import CLIP_SECONDS, FIXTURES, INSTALLED_MODULE, ROOT, built_package

# bpy reads its user folders when imported: point them at a fresh HOME first.
_HOME = tempfile.mkdtemp(prefix="na-test-home-")
os.environ["HOME"] = _HOME
# Mesa keeps compiled shaders here (its default is under HOME): the GPU tests' first
# compile on llvmpipe takes long, later runs load them.
os.environ.setdefault("MESA_SHADER_CACHE_DIR", str(ROOT / "build" / "mesa_shader_cache"))

if "neural_aesthetics" not in sys.modules:
    _package = types.ModuleType("neural_aesthetics")
    _package.__path__ = [str(ROOT)]
    sys.modules["neural_aesthetics"] = _package

try:
    import bpy
except ImportError:  # a plain venv: only the pure-Python tests can run
    bpy = None


def _install_extension():
    zip_path = built_package()
    result = bpy.ops.extensions.package_install_files(
        filepath=str(zip_path), repo="user_default", enable_on_install=True
    )
    assert result == {"FINISHED"}, f"installing {zip_path} failed: {result}"
    return sys.modules[INSTALLED_MODULE]


EXTENSION = _install_extension() if bpy is not None else None


def _drives_blender(item) -> bool:
    """Whether a test needs Blender: it uses the installed extension or bpy itself."""
    module_names = vars(item.module) if getattr(item, "module", None) else {}
    return ("ext" in getattr(item, "fixturenames", ()) or "installed" in module_names
            or module_names.get("bpy") is not None or item.get_closest_marker("bpy") is not None)


def _torch_importable() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def pytest_collection_modifyitems(config, items):
    # `make test` runs the `bpy` tests on 4.2 and 5.0, the `torch` ones on 5.0 (the venv
    # with the training pack) and every other pure-Python test once, on 4.2 (the same
    # numpy pin), so that the two runs side by side share the machine's two cores.
    torch_missing = pytest.mark.skip(reason="torch is in the Blender 5.0 test venv only (the training pack)")
    has_torch = None
    for item in items:
        if _drives_blender(item):
            item.add_marker(pytest.mark.bpy)
        if item.get_closest_marker("torch") is not None:
            has_torch = _torch_importable() if has_torch is None else has_torch
            if not has_torch:
                item.add_marker(torch_missing)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A pure-Python test that skips for want of torch must say so with the `torch` marker,
    or `make test` would run it only where torch is missing, and never see it pass."""
    outcome = yield
    report = outcome.get_result()
    if (report.skipped and "torch" in str(report.longrepr) and item.get_closest_marker("torch") is None
            and item.get_closest_marker("bpy") is None):
        report.outcome = "failed"
        report.longrepr = f"{item.nodeid} skips without torch: mark it @pytest.mark.torch so 5.0 runs it"


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_HOME, ignore_errors=True)


@pytest.fixture
def ext():
    """The installed, enabled extension module (``bl_ext.user_default.neural_aesthetics``)."""
    if EXTENSION is None:
        pytest.fail("this test needs bpy: run it with `make test` (a venv with the bpy wheel)")
    return EXTENSION


@pytest.fixture
def blank_blend(ext, tmp_path):
    """An empty scene saved as ``tmp_path/project.blend`` (so '//' paths resolve), 24 fps, 320x180."""
    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 24, 1.0
    scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = 320, 180, 100
    path = tmp_path / "project.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    return path


@pytest.fixture
def music_wav(tmp_path):
    """The code-generated demo clip (CLIP_SECONDS long) and its drum-hit times in seconds."""
    import synth_music

    samples, onset_times = synth_music.render_demo_clip(seconds=CLIP_SECONDS, seed=3)
    path = tmp_path / "music.wav"
    synth_music.write_wav(path, samples, 44100)
    return path, onset_times


@pytest.fixture
def sound_scene(ext, tmp_path, music_wav):
    """A saved scene (24 fps, 320x180) with one active sound strip 'Music' at frame 1.

    Returns ``(scene, strip)``. Blender 4.2's bpy wheel cannot create sound strips (it is
    built without audio), so there the strip comes from tests/fixtures/sound_strip.blend.
    """
    compat = sys.modules[f"{INSTALLED_MODULE}.operators.blender.compat"]
    blend = tmp_path / "project.blend"
    if bpy.app.version >= (4, 4, 0):
        bpy.ops.wm.read_homefile(use_empty=True)
        scene = bpy.context.scene
        scene.render.fps, scene.render.fps_base = 24, 1.0
        scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = 320, 180, 100
        bpy.ops.wm.save_as_mainfile(filepath=str(blend))
        strip = compat.new_sound_strip(scene, "Music", "//music.wav", channel=1, frame_start=1)
        scene.sequence_editor.active_strip = strip
    else:
        shutil.copy(FIXTURES / "sound_strip.blend", blend)
        bpy.ops.wm.open_mainfile(filepath=str(blend))
        scene = bpy.context.scene
        strip = compat.all_strips(scene)[0]
    scene.frame_start, scene.frame_end = strip.frame_final_start, strip.frame_final_end - 1
    return scene, strip
