"""Importing and exporting style files from the Style panel: checked, never executed, never clobbering."""

from __future__ import annotations

import pickle
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import INSTALLED_MODULE, ROOT

bpy = pytest.importorskip("bpy", reason="needs the bpy wheel: run `make test`")

pytestmark = pytest.mark.bpy


def user_styles() -> Path:
    return sys.modules[f"{INSTALLED_MODULE}.operators.blender.paths"].user_folder("styles")


@pytest.fixture
def clean_user_styles(ext):
    shutil.rmtree(user_styles(), ignore_errors=True)
    yield user_styles()
    shutil.rmtree(user_styles(), ignore_errors=True)


def copy_bundled(name: str, folder: Path, stem: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for suffix in (".safetensors", ".json", ".png"):
        shutil.copy(ROOT / "styles" / f"{name}{suffix}", folder / f"{stem}{suffix}")
    return folder / f"{stem}.safetensors"


def test_an_imported_style_appears_in_the_menu_and_is_selected(blank_blend, clean_user_styles, tmp_path):
    source = copy_bundled("lagoon", tmp_path / "downloads", "my_lagoon")
    assert bpy.ops.neural_aesthetics.import_style(filepath=str(source)) == {"FINISHED"}
    scene = bpy.context.scene
    assert scene.neural_aesthetics.style == "my_lagoon"
    assert sorted(p.name for p in clean_user_styles.iterdir()) == ["my_lagoon.json", "my_lagoon.png",
                                                                   "my_lagoon.safetensors"]
    style = sys.modules[f"{INSTALLED_MODULE}.core.render.style"]
    original, imported = style.load_style(source), style.load_style(clean_user_styles / "my_lagoon.json")
    for name, value in original.weights.items():
        np.testing.assert_array_equal(imported.weights[name], value)


def test_a_pickle_posing_as_a_style_is_refused_and_nothing_is_written(blank_blend, clean_user_styles, tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    folder = tmp_path / "downloads"
    folder.mkdir()
    (folder / "evil.safetensors").write_bytes(pickle.dumps(Payload()))
    shutil.copy(ROOT / "styles" / "ember.json", folder / "evil.json")
    with pytest.raises(RuntimeError) as error:
        bpy.ops.neural_aesthetics.import_style(filepath=str(folder / "evil.safetensors"))
    assert "evil.safetensors" in str(error.value) and "\n" not in str(error.value).strip()
    assert not marker.exists()
    assert not clean_user_styles.exists() or not any(clean_user_styles.iterdir())


def test_a_name_with_path_parts_stays_inside_the_styles_folder(blank_blend, clean_user_styles, tmp_path):
    source = copy_bundled("prism", tmp_path / "downloads", "..%2F..%2Fevil name")
    assert bpy.ops.neural_aesthetics.import_style(filepath=str(source)) == {"FINISHED"}
    written = sorted(p.name for p in clean_user_styles.rglob("*"))
    assert written == ["2F_2Fevil_name.json", "2F_2Fevil_name.png", "2F_2Fevil_name.safetensors"]
    style = sys.modules[f"{INSTALLED_MODULE}.core.render.style"]
    path = style.import_style(source, clean_user_styles, name="../../evil")
    assert path == clean_user_styles / "evil.safetensors"
    assert not list(tmp_path.rglob("evil.*")) and not list(clean_user_styles.parent.glob("evil.*"))


def test_importing_over_an_existing_style_asks_first(blank_blend, clean_user_styles, tmp_path):
    source = copy_bundled("ember", tmp_path / "a", "mine")
    bpy.ops.neural_aesthetics.import_style(filepath=str(source))
    other = copy_bundled("lagoon", tmp_path / "b", "mine")
    before = (clean_user_styles / "mine.safetensors").read_bytes()
    with pytest.raises(RuntimeError, match="already exists"):
        bpy.ops.neural_aesthetics.import_style(filepath=str(other))
    assert (clean_user_styles / "mine.safetensors").read_bytes() == before
    assert bpy.ops.neural_aesthetics.import_style(filepath=str(other), replace_existing=True) == {"FINISHED"}
    assert (clean_user_styles / "mine.safetensors").read_bytes() != before


def test_export_writes_a_style_that_loads_back(blank_blend, tmp_path):
    bpy.context.scene.neural_aesthetics.style = "prism"
    assert bpy.ops.neural_aesthetics.export_style(directory=str(tmp_path / "share")) == {"FINISHED"}
    style = sys.modules[f"{INSTALLED_MODULE}.core.render.style"]
    exported = style.load_style(tmp_path / "share" / "prism.safetensors")
    assert exported.metadata["origin"] == "procedural"
    assert (tmp_path / "share" / "prism.png").is_file()
