"""Training a style from Blender: the Train Style operator (blocking and in the worker), the
Train panel's preview, and the headless ``train`` command; all on the installed extension.

The training itself is core.train's (tested in test_train.py); these tests check what a
user sees: the new style lands in the Style menu and is selected, a name in use is never
overwritten, previews and the CLIP score show while it trains, and without the training
pack every way in says how to get it.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from helpers import INSTALLED_MODULE

bpy = pytest.importorskip("bpy", reason="needs the bpy wheel: run `make test`")
from PIL import Image  # noqa: E402  (from the extension's wheels, installed with it)

pytestmark = pytest.mark.bpy


def installed(name: str):
    return sys.modules[f"{INSTALLED_MODULE}.{name}"]


def user_styles():
    return installed("operators.blender.paths").user_folder("styles")


@pytest.fixture
def clean_user_styles(ext):
    shutil.rmtree(user_styles(), ignore_errors=True)
    yield user_styles()
    shutil.rmtree(user_styles(), ignore_errors=True)


@pytest.fixture(scope="module")
def tiny_clip_folder(tmp_path_factory):
    """A tiny CLIP trained here for a few steps (its quality does not matter to these tests)."""
    torch = pytest.importorskip("torch", reason="torch is in the Blender 5.0 test venv only (the training pack)")
    import tiny_clip

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return tiny_clip.train_tiny_clip(tmp_path_factory.mktemp("tiny_clip"), steps=10, batch=16, seed=0)
    finally:
        torch.set_num_threads(threads)


@pytest.fixture
def clip_preferences(ext, tiny_clip_folder):
    """The preferences pointed at the tiny CLIP on the CPU, restored afterwards."""
    prefs = installed("operators.settings.preferences").get()
    before = (prefs.clip_checkpoint, prefs.device)
    prefs.clip_checkpoint, prefs.device = str(tiny_clip_folder), "CPU"
    yield prefs
    prefs.clip_checkpoint, prefs.device = before


def train_settings(scene, **values):
    settings = scene.neural_aesthetics_train
    for key, value in dict(prompt="red", steps=3, seed=1).items():
        setattr(settings, key, values.pop(key, value))
    for key, value in values.items():
        setattr(settings, key, value)
    return settings


def style_files(folder, name):
    return sorted(path.name for path in folder.glob(f"{name}.*"))


# --- the operator ----------------------------------------------------------------------


def test_train_style_adds_a_style_to_the_menu_selects_it_and_never_overwrites_one(
        blank_blend, clean_user_styles, clip_preferences):
    scene = bpy.context.scene
    train_settings(scene, prompt="red | a red circle", name="")

    assert bpy.ops.neural_aesthetics.train_style() == {"FINISHED"}
    assert scene.neural_aesthetics.style == "red"
    assert style_files(clean_user_styles, "red") == ["red.json", "red.png", "red.safetensors"]
    trained = installed("core.render.style").load_style(clean_user_styles / "red.json")
    assert trained.metadata["prompts"] == ["red", "a red circle"]
    assert trained.metadata["origin"] == "clip" and trained.metadata["steps"] == 3
    first_bytes = (clean_user_styles / "red.safetensors").read_bytes()

    # The same prompt again: a new, numbered style; the first one is untouched.
    assert bpy.ops.neural_aesthetics.train_style() == {"FINISHED"}
    assert scene.neural_aesthetics.style == "red_2"
    assert (clean_user_styles / "red.safetensors").read_bytes() == first_bytes
    # A bundled style's name is never taken either (the bundled one would hide it).
    train_settings(scene, name="nebula")
    assert bpy.ops.neural_aesthetics.train_style() == {"FINISHED"}
    assert scene.neural_aesthetics.style == "nebula_2"


def test_bad_training_settings_are_reported_in_one_line_and_nothing_is_written(blank_blend, clean_user_styles,
                                                                             clip_preferences, tmp_path):
    scene = bpy.context.scene
    train_settings(scene, palette="#ff0000 crimsonn")
    with pytest.raises(RuntimeError, match="Palette: 'crimsonn' is not a colour name .*closest names: crimson"):
        bpy.ops.neural_aesthetics.train_style()
    train_settings(scene, palette="", reference_dir=str(tmp_path))  # an empty mood board
    with pytest.raises(RuntimeError, match="No images in the reference folder"):
        bpy.ops.neural_aesthetics.train_style()
    assert not list(clean_user_styles.glob("*"))


def test_with_nothing_to_train_towards_the_button_says_what_to_give(blank_blend):
    train_settings(bpy.context.scene, prompt="")
    assert not bpy.ops.neural_aesthetics.train_style.poll()
    with pytest.raises(RuntimeError, match="Give a prompt, a palette or a folder of reference images"):
        bpy.ops.neural_aesthetics.train_style()


def test_without_the_training_pack_the_button_and_the_command_say_how_to_get_it(blank_blend, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch", None)  # as in a Blender without the training pack
    train_settings(bpy.context.scene, prompt="red")
    with pytest.raises(RuntimeError, match="needs the training pack .*Preferences.*or train from a palette alone"):
        bpy.ops.neural_aesthetics.train_style()

    code = installed("operators.cli").main(["train", "--prompt", "red", "--steps", "2"])
    error = capsys.readouterr().err
    assert code == 1
    assert error.count("\n") == 1 and "install the training pack" in error


def test_a_palette_alone_trains_without_the_training_pack_and_shows_its_report(blank_blend, clean_user_styles,
                                                                              monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "torch", None)  # as in a Blender without the training pack (4.2's test venv)
    scene = bpy.context.scene
    train_settings(scene, prompt="", palette="teal, coral, midnight blue", steps=5, name="sea")
    assert bpy.ops.neural_aesthetics.train_style.poll()
    assert bpy.ops.neural_aesthetics.train_style() == {"FINISHED"}
    assert scene.neural_aesthetics.style == "sea"
    trained = installed("core.render.style").load_style(clean_user_styles / "sea.json")
    assert trained.metadata["objective"]["palette"] == ["#008080", "#ff7f50", "#191970"]
    training = installed("operators.verbs.train_style")
    _icon, report = training.report_status()
    assert report == str(clean_user_styles / "reports" / "sea.png") and Path(report).is_file()
    assert training.report_of_scene_style(bpy.context) == report  # the style browser links it

    code = installed("operators.cli").main(["train", "--palette", "gold, #3a0a00", "--steps", "3",
                                            "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0 and f"training report: {tmp_path / 'reports' / 'palette.png'}" in out
    assert (tmp_path / "reports" / "palette.json").is_file()


# --- in the worker, as the UI runs it ---------------------------------------------------------


class UiContext:
    """The real scene and job properties; timers, cursor progress and redraws as no-ops."""

    def __init__(self):
        real = bpy.context.window_manager
        self.scene, self.preferences = bpy.context.scene, bpy.context.preferences
        self.window_manager = SimpleNamespace(
            neural_aesthetics_job=real.neural_aesthetics_job,
            progress_begin=lambda *_: None, progress_update=lambda *_: None, progress_end=lambda: None,
            event_timer_remove=lambda *_: None)
        self.screen = None


@pytest.mark.slow
def test_training_in_the_worker_shows_previews_and_the_score_then_selects_the_style(
        blank_blend, clean_user_styles, clip_preferences):
    """Drives the operator's worker path the way Blender's event loop would (no timers under -b)."""
    jobs, jobs_ui, training = installed("core.jobs.background"), installed("operators.verbs.job_progress"), installed("operators.verbs.train_style")
    context = UiContext()
    train_settings(context.scene, prompt="blue", steps=20, name="")
    request, message = training.worker_request(context)

    class Driver(jobs_ui.WorkerModal):
        reports = []

        def report(self, kind, text):
            self.reports.append((set(kind), text))

        def on_progress(self, state):
            training.show_progress(state)

        def on_done(self, ui_context, state):
            self.reports.append(({"INFO"}, training.finish(ui_context, state.result)))
            return {"FINISHED"}

    driver = Driver()
    driver._job, driver._started_s = jobs.BackgroundJob("train", request), time.monotonic()
    jobs_ui.start(context, message)
    previews, captions = {}, set()  # preview PNG bytes by content; the panel's captions
    deadline = time.monotonic() + 120
    result = {"PASS_THROUGH"}
    while result == {"PASS_THROUGH"} and time.monotonic() < deadline:
        result = driver.modal(context, SimpleNamespace(type="TIMER"))
        _icon, caption, path = training.preview_status()  # (no icons under blender -b: the file is checked)
        if path:
            data = Path(path).read_bytes()
            previews[hashlib.sha256(data).hexdigest()] = data
        captions.add(caption)
        time.sleep(0.02)

    assert result == {"FINISHED"}, driver.reports
    assert context.scene.neural_aesthetics.style == "blue"
    assert style_files(clean_user_styles, "blue") == ["blue.json", "blue.png", "blue.safetensors"]
    # Previews came every 10 steps, each a whole 160x90 picture of the style so far, with the step and CLIP score.
    assert len(previews) >= 2
    for data in previews.values():
        with Image.open(io.BytesIO(data)) as image:
            assert image.size == (160, 90) and image.mode == "RGB"
            image.load()
    assert any(caption.startswith("Step 20/20, CLIP score ") for caption in captions)
    assert any(text.startswith("Trained style 'blue': held-out CLIP score ") for _, text in driver.reports)


@pytest.mark.slow
def test_cancelling_a_training_in_the_worker_saves_no_style(blank_blend, clean_user_styles, clip_preferences):
    jobs, training = installed("core.jobs.background"), installed("operators.verbs.train_style")
    train_settings(bpy.context.scene, prompt="green", steps=100000, name="")
    request, _message = training.worker_request(bpy.context)
    job = jobs.BackgroundJob("train", request)
    deadline = time.monotonic() + 60
    while job.poll().done < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert job.state.status == "running" and job.state.done >= 2
    job.cancel()
    started = time.monotonic()
    assert job.wait(timeout_s=30).status == "cancelled"
    assert time.monotonic() - started < 10
    assert not list(clean_user_styles.glob("green*"))


# --- headless ----------------------------------------------------------------------------


def test_train_command_trains_a_recipe_into_a_folder_and_refuses_to_overwrite(ext, tiny_clip_folder, tmp_path,
                                                                               capsys):
    cli = installed("operators.cli")
    argv = ["train", "--recipe", "cosmic-nebula", "--steps", "2", "--device", "cpu",
            "--clip-checkpoint", str(tiny_clip_folder), "--out", str(tmp_path)]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "neural_aesthetics: step 2/2: loss " in out and "CLIP score" in out
    trained = installed("core.render.style").load_style(tmp_path / "cosmic-nebula.json")
    recipe = installed("core.train.training").load_recipes()["cosmic-nebula"]
    assert trained.metadata["prompts"] == recipe.prompts
    assert trained.metadata["objective"]["palette"] == recipe.palette
    assert trained.metadata["steps"] == 2

    before = (tmp_path / "cosmic-nebula.safetensors").read_bytes()
    assert cli.main([*argv, "--name", "cosmic-nebula"]) == 1
    assert "already exists" in capsys.readouterr().err
    assert (tmp_path / "cosmic-nebula.safetensors").read_bytes() == before


@pytest.mark.parametrize(
    "argv, code, expected",
    [
        (["train"], 2, "train needs --prompt, --palette, --reference or --recipe"),
        (["train", "--palette", "#12345"], 2, "'#12345' is not a colour name or a '#rrggbb' code"),
        (["train", "--prompt", "red", "--steps", "0"], 2, "must be a whole number from 1"),
        (["train", "--prompt", "red", "--device", "tpu"], 2, "invalid choice: 'tpu'"),
        (["train", "--recipe", "no-such-recipe"], 1, "No recipe named 'no-such-recipe': recipes are "),
        (["train", "--prompt", "red", "--reference", "missing.png"], 1, "Reference image not found"),
    ],
)
def test_bad_train_arguments_give_one_line_and_a_non_zero_code(ext, argv, code, expected, capsys):
    assert installed("operators.cli").main(argv) == code
    error = capsys.readouterr().err
    assert expected in error and error.count("\n") == 1
