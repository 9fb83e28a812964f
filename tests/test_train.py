"""Training styles with CLIP and with a palette (core.train), on a tiny CLIP trained here offline."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

pytestmark = pytest.mark.torch
torch = pytest.importorskip("torch", reason="torch is in the Blender 5.0 test venv only (the training pack)")
pytest.importorskip("open_clip", reason="open_clip is in the Blender 5.0 test venv only (the training pack)")

import tiny_clip  # noqa: E402
from helpers import ROOT  # noqa: E402
from neural_aesthetics.core.train import clip_model, objectives, sampling, training as train
from neural_aesthetics.core.render import cppn, style
from neural_aesthetics.core import progress as jobs  # noqa: E402
from neural_aesthetics.core.errors import UserError  # noqa: E402

PALETTE = ["#e4572e", "#ffc914", "#76b041", "#2e282a"]


@contextlib.contextmanager
def one_torch_thread():
    """These models are tiny: one thread is faster than two fighting a busy machine's other jobs."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _one_thread():
    with one_torch_thread():
        yield


@pytest.fixture(scope="session")
def tiny_clip_folder(tmp_path_factory):
    """The tiny CLIP, trained once per test session and saved as an open_clip local folder."""
    with one_torch_thread():
        torch.manual_seed(0)
        return tiny_clip.train_tiny_clip(tmp_path_factory.mktemp("tiny_clip"), steps=60, batch=32, seed=0)


@pytest.fixture(scope="session")
def red_and_blue(tiny_clip_folder, tmp_path_factory):
    """Styles trained with the prompt "red" and with "blue" (same seed), loaded back from their files."""
    out_dir = tmp_path_factory.mktemp("red_blue")
    loaded = {}
    with one_torch_thread():
        for word in ("red", "blue"):
            config = train.TrainConfig(prompts=[word], steps=40, learning_rate=5e-3, batch=8, seed=1, device="cpu",
                                       clip_checkpoint=str(tiny_clip_folder), preview_every=0)
            loaded[word] = style.load_style(train.train_style(config, out_dir, word))
    return loaded


def tiny_config(folder, **changes) -> train.TrainConfig:
    values = dict(prompts=["red"], steps=4, batch=2, seed=3, device="cpu", clip_checkpoint=str(folder), preview_every=2)
    values.update(changes)
    return train.TrainConfig(**values)


# --- CLIP loading ------------------------------------------------------------------------


def test_the_tiny_clip_learned_colour_and_loads_through_the_users_path(tiny_clip_folder):
    clip = clip_model.load_clip(checkpoint=tiny_clip_folder, device="cpu")
    assert clip.image_size == (64, 64) and "local folder" in clip.description
    assert not any(parameter.requires_grad for parameter in clip.model.parameters())
    assert tiny_clip.colour_accuracy(clip) >= 0.9


def test_a_missing_or_unfit_checkpoint_is_a_one_line_user_error(tmp_path):
    with pytest.raises(clip_model.ClipError, match="not found"):
        clip_model.load_clip(checkpoint=tmp_path / "nope.pt")
    junk = tmp_path / "weights.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(clip_model.ClipError) as caught:
        clip_model.load_clip("ViT-B-32", checkpoint=junk)
    assert "\n" not in str(caught.value) and "weights.pt" in str(caught.value)


def test_a_pickle_checkpoint_that_would_run_code_is_refused(tmp_path):
    """torch.load(weights_only=True): a checkpoint from the internet cannot execute anything."""
    marker = tmp_path / "executed"
    evil = tmp_path / "evil.pt"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    torch.save({"state_dict": Payload()}, evil)
    with pytest.raises(clip_model.ClipError):
        clip_model.load_clip("ViT-B-32", checkpoint=evil)
    assert not marker.exists()


def test_download_refused_offline_names_the_file_to_fetch(tmp_path):
    config = train.TrainConfig(prompts=["red"], cache_dir=str(tmp_path), allow_download=False, steps=1)
    with pytest.raises(clip_model.ClipError) as caught:
        train.train_style(config, tmp_path / "out", "x")
    message = str(caught.value)
    assert "\n" not in message and "huggingface.co" in message and "local CLIP checkpoint" in message
    assert not (tmp_path / "out").exists()


def test_a_failed_download_is_a_one_line_user_error(tmp_path):
    """The real download path, with the hub switched to offline mode so it fails at once."""
    script = (
        "import sys, types; p = types.ModuleType('neural_aesthetics'); p.__path__ = [sys.argv[1]]; "
        "sys.modules['neural_aesthetics'] = p\n"
        "from neural_aesthetics.core.train import clip_model\n"
        "try:\n    clip_model.load_clip('ViT-B-32', 'laion2b_s34b_b79k', cache_dir=sys.argv[2])\n"
        "except clip_model.ClipError as error:\n    print('USER ERROR:', error)\n"
    )
    environment = dict(os.environ, HF_HUB_OFFLINE="1")
    result = subprocess.run([sys.executable, "-c", script, str(ROOT), str(tmp_path)], capture_output=True, text=True,
                            env=environment, timeout=120)
    lines = [line for line in result.stdout.splitlines() if line.startswith("USER ERROR:")]
    assert len(lines) == 1, result.stdout + result.stderr
    assert "Could not download" in lines[0] and "local CLIP checkpoint" in lines[0]


def test_importing_core_train_does_not_import_torch():
    script = ("import sys, types; p = types.ModuleType('neural_aesthetics'); p.__path__ = [sys.argv[1]]; "
              "sys.modules['neural_aesthetics'] = p\n"
              "from neural_aesthetics.core.train import training\ntraining.load_recipes()\n"
              "print('torch' in sys.modules, 'open_clip' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", script, str(ROOT)], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "False False", result.stderr


# --- the CLIP objective ------------------------------------------------------------------


def test_red_and_blue_prompts_move_the_mean_colour_the_right_way(red_and_blue):
    rng = np.random.default_rng(2024)
    renderers = {word: cppn.CPPN.from_style(loaded) for word, loaded in red_and_blue.items()}
    right = 0
    for _ in range(20):
        latent = (rng.standard_normal(8) * rng.uniform(0.5, 1.6)).astype(np.float32)
        red = renderers["red"].render(latent, 64, 36).mean(axis=(0, 1))
        blue = renderers["blue"].render(latent, 64, 36).mean(axis=(0, 1))
        right += bool(red[0] > blue[0] and blue[2] > red[2])
    assert right >= 18, f"only {right} of 20 latents are redder for 'red' and bluer for 'blue'"


def test_the_held_out_clip_score_beats_the_initialisation_and_metadata_is_complete(red_and_blue, tiny_clip_folder):
    for word, loaded in red_and_blue.items():
        meta = loaded.metadata
        assert meta["score"] > meta["score_initial"] + 0.05, (word, meta["score_initial"], meta["score"])
        assert meta["origin"] == "clip" and meta["prompts"] == [word] and "CLIP-trained" in meta["label"]
        assert meta["objective"]["prompts"] == [word] and meta["objective"]["weights"]["prompt"] == 1.0
        assert meta["clip_model"] == f"{tiny_clip_folder.name} (local folder)"
        assert (meta["steps"], meta["seed"], meta["settings"]["device"]) == (40, 1, "cpu")
        assert loaded.path.with_suffix(".png").is_file()


def test_training_is_deterministic_on_the_cpu_for_a_seed(tiny_clip_folder, tmp_path):
    config = tiny_config(tiny_clip_folder, palette=PALETTE, negative_prompt="blue")
    first = style.load_style(train.train_style(config, tmp_path / "a", "same"))
    second = style.load_style(train.train_style(config, tmp_path / "b", "same"))
    other = style.load_style(train.train_style(tiny_config(tiny_clip_folder, palette=PALETTE, negative_prompt="blue",
                                                           seed=4), tmp_path / "c", "same"))
    for name, value in first.weights.items():
        np.testing.assert_array_equal(value, second.weights[name])
    assert first.metadata["score"] == second.metadata["score"]
    assert any(not np.array_equal(value, other.weights[name]) for name, value in first.weights.items())


def test_reference_images_pull_towards_their_look(tiny_clip_folder, tmp_path):
    from PIL import Image

    board = []
    rng = np.random.default_rng(0)
    for index, shape in enumerate(tiny_clip.SHAPES):
        path = tmp_path / f"mood{index}.png"
        Image.fromarray((tiny_clip.draw_image(rng, "green", shape).transpose(1, 2, 0) * 255).astype(np.uint8)).save(path)
        board.append(str(path))
    config = tiny_config(tiny_clip_folder, prompts=[], reference_images=board, steps=30, batch=4, learning_rate=5e-3)
    loaded = style.load_style(train.train_style(config, tmp_path / "out", "greenish"))
    assert loaded.metadata["score"] > loaded.metadata["score_initial"]
    assert loaded.metadata["objective"]["reference_images"] == ["mood0.png", "mood1.png", "mood2.png"]
    mean = cppn.CPPN.from_style(loaded).render(np.zeros(8, np.float32), 64, 36).mean(axis=(0, 1))
    assert mean[1] > mean[0] and mean[1] > mean[2], mean


# --- the palette objective ---------------------------------------------------------------


def test_the_palette_alone_halves_the_colour_distance_without_clip(tmp_path):
    config = train.TrainConfig(palette=PALETTE, steps=200, learning_rate=1e-2, batch=8, render_size=48, seed=3,
                               device="cpu", clip_checkpoint="/nonexistent/never/loaded", preview_every=0)
    loaded = style.load_style(train.train_style(config, tmp_path, "warm"))
    meta = loaded.metadata
    assert meta["origin"] == "palette" and meta["clip_model"] is None and meta["score"] is None
    assert "not CLIP-trained" in meta["label"] and meta["objective"]["palette"] == PALETTE
    assert meta["palette_distance"] <= 0.5 * meta["palette_distance_initial"], meta


def test_palette_distance_is_zero_for_the_palette_itself_and_counts_shares():

    palette = torch.tensor([[1.0, 0, 0], [0, 0, 1.0]])
    halves = torch.cat([palette[0].expand(50, 3), palette[1].expand(50, 3)]).unsqueeze(0)
    all_red = palette[0].expand(100, 3).unsqueeze(0)
    directions = torch.from_numpy(sampling.evaluation_directions())
    even = torch.tensor([0.5, 0.5])
    assert objectives.palette_distance(halves, palette, even, directions).item() < 1e-6
    assert objectives.palette_distance(all_red, palette, even, directions).item() > 0.2
    assert objectives.palette_distance(all_red, palette, torch.tensor([1.0, 0.0]), directions).item() < 1e-6


# --- progress, cancel, settings ----------------------------------------------------------


def test_progress_reports_every_step_with_previews(tiny_clip_folder, tmp_path):
    reports = []
    train.train_style(tiny_config(tiny_clip_folder), tmp_path, "p", progress=reports.append)
    assert [report.step for report in reports] == [1, 2, 3, 4] and {r.total for r in reports} == {4}
    assert [report.preview is not None for report in reports] == [False, True, False, True]
    assert reports[1].preview.shape == (90, 160, 3) and reports[1].preview.dtype == np.uint8
    assert all(np.isfinite(r.loss) and -1 <= r.score <= 1 for r in reports)
    assert reports[-1].message.startswith("Step 4/4: loss")


def test_cancel_stops_within_one_step_and_writes_nothing(tiny_clip_folder, tmp_path):
    token = jobs.CancelToken()
    reports = []

    def progress(report):
        reports.append(report.step)
        if report.step == 3:
            token.cancel()

    with pytest.raises(jobs.Cancelled):
        train.train_style(tiny_config(tiny_clip_folder, steps=50), tmp_path, "c", progress=progress, cancel=token)
    assert reports == [1, 2, 3]
    assert not list(tmp_path.iterdir())


def test_cancel_from_another_thread_returns_within_one_step(tmp_path):
    """Cancel while a long training runs: it returns within about one step's time."""
    config = train.TrainConfig(palette=PALETTE, steps=100_000, batch=2, render_size=32, device="cpu", preview_every=0)
    token = jobs.CancelToken()
    step_times, outcome = [], {}

    def progress(report):
        step_times.append(time.perf_counter())

    def run():
        try:
            train.train_style(config, tmp_path, "never", progress=progress, cancel=token)
        except jobs.Cancelled:
            outcome["returned"] = time.perf_counter()

    worker = threading.Thread(target=run)
    worker.start()
    while len(step_times) < 5 and worker.is_alive():
        time.sleep(0.01)
    cancelled_at = time.perf_counter()
    token.cancel()
    worker.join(timeout=60)
    assert not worker.is_alive() and "returned" in outcome
    steps_after = sum(t > cancelled_at for t in step_times)
    assert steps_after <= 1, f"{steps_after} steps ran after cancel"
    assert not list(tmp_path.glob("never*"))


@pytest.mark.parametrize("changes, message", [
    (dict(prompts=[], palette=[]), "Nothing to train towards"),
    (dict(palette=["#12345"]), "is not '#rrggbb'"),
    (dict(steps=0), "'steps'"),
    (dict(device="tpu"), "'device'"),
    (dict(reference_images=["/no/such/image.png"]), "Reference image not found"),
])
def test_bad_settings_are_refused_before_anything_loads(tmp_path, changes, message):
    values = dict(prompts=["red"], clip_checkpoint="/never/loaded")
    values.update(changes)
    with pytest.raises(train.TrainError, match=message):
        train.train_style(train.TrainConfig(**values), tmp_path, "x")
    with pytest.raises(train.TrainError, match="not allowed"):
        train.train_style(train.TrainConfig(palette=PALETTE), tmp_path, "../evil")


def test_fine_tuning_starts_from_a_style_checked_by_load_style(tmp_path):
    """A style to fine-tune goes through load_style: a truncated file is refused before training."""
    source = ROOT / "styles" / "ember.safetensors"
    config = train.TrainConfig(palette=PALETTE, steps=3, batch=2, render_size=32, device="cpu",
                               init_style=str(source), preview_every=0)
    tuned = style.load_style(train.train_style(config, tmp_path / "ok", "tuned"))
    assert tuned.architecture == style.load_style(source).architecture
    assert tuned.metadata["settings"]["init_style"] == "ember.safetensors"
    broken = tmp_path / "broken"
    broken.mkdir()
    for suffix in (".json", ".png"):
        (broken / f"ember{suffix}").write_bytes(source.with_suffix(suffix).read_bytes())
    (broken / "ember.safetensors").write_bytes(source.read_bytes()[:-100])
    with pytest.raises(style.StyleError, match="truncated"):
        train.train_style(train.TrainConfig(palette=PALETTE, init_style=str(broken / "ember.safetensors")),
                          tmp_path / "out", "x")
    assert not (tmp_path / "out").exists()


def test_user_errors_are_user_errors():
    assert issubclass(train.TrainError, UserError) and issubclass(clip_model.ClipError, UserError)


def test_a_centred_cutout_is_the_renderers_own_coordinate_grid():
    """The trainer's cutouts use the renderers' coordinate system, Fourier features included."""
    from neural_aesthetics.core.train import sampling

    for fourier in ((), (3.0,)):
        got = sampling.window_features(sampling.Windows.centred(), *sampling.grid_points(12), ["x", "y", "r"], fourier)[0]
        expected = cppn.pixel_coordinates(["x", "y", "r"], 12, 12, fourier=list(fourier))
        np.testing.assert_allclose(got, expected, atol=1e-5)


def test_fine_tuning_a_style_with_fourier_features(tmp_path):
    architecture = dict(inputs=["x", "y", "r"], fourier_scales=[4.0], latent_dim=4, width=16, depth=2,
                        activation="sin", output="sigmoid")
    start = style.save_style(tmp_path / "start", "fourier", architecture, cppn.random_weights(architecture, 1), {},
                             np.zeros((9, 16, 3), np.uint8))
    config = train.TrainConfig(palette=PALETTE, steps=3, batch=2, render_size=24, device="cpu", init_style=str(start))
    tuned = style.load_style(train.train_style(config, tmp_path / "out", "tuned"))
    assert tuned.architecture["fourier_scales"] == [4.0]
    assert any(not np.array_equal(tuned.weights[name], value) for name, value in style.load_style(start).weights.items())



# --- views, the training report ------------------------------------------------------------


def test_the_report_of_a_clip_training_has_margins_distractors_and_a_second_model(tiny_clip_folder, tmp_path):
    from neural_aesthetics.core.train import report

    config = tiny_config(tiny_clip_folder, prompts=["red"], steps=3, views=3, batch=2, palette=PALETTE,
                         judge_clip_checkpoint=str(tiny_clip_folder), preview_every=0)
    path = train.train_style(config, tmp_path, "judged")
    meta = style.load_style(path).metadata
    assert meta["settings"]["views"] == 3 and meta["settings"]["batch"] == 2
    numbers = json.loads(report.report_paths(path)[1].read_text())
    clip = numbers["clip"]
    assert clip["distractor_prompts"] == list(report.DISTRACTOR_PROMPTS)
    for model in ("training_model", "second_model"):
        scores = clip[model]
        assert len(scores["distractor_scores"]) == 3
        assert scores["margin_over_distractors"] == pytest.approx(scores["score"] - max(scores["distractor_scores"]),
                                                                  abs=1e-4)
        assert scores["margin_over_untrained"] == pytest.approx(scores["score"] - scores["score_untrained"], abs=1e-4)
    assert len(numbers["score_per_step"]) == 3 and all(value is not None for value in numbers["score_per_step"])
    assert numbers["palette"]["asked"] == PALETTE


def test_a_second_model_that_is_not_here_is_named_in_the_report_not_downloaded(tiny_clip_folder, tmp_path):
    from neural_aesthetics.core.train import report

    config = tiny_config(tiny_clip_folder, steps=1, cache_dir=str(tmp_path / "empty_cache"), preview_every=0)
    path = train.train_style(config, tmp_path, "alone")
    second = json.loads(report.report_paths(path)[1].read_text())["clip"]["second_model"]
    assert second["score"] is None and second["model"] == "ViT-B-16" and second["why_not"]


def test_the_unseen_view_score_is_measured_on_views_training_never_draws(tiny_clip_folder):
    trainer, _architecture, _clip = train.build_trainer(tiny_config(tiny_clip_folder, views=2, batch=2))
    assert trainer.views == 2 and trainer.render_size == 64  # the tiny CLIP's input size on the CPU
    first = trainer.unseen_view_score(views=2)
    assert first == trainer.unseen_view_score(views=2)  # fixed views: comparable across runs
    trainer.step()
    assert trainer.unseen_view_score(views=2) != first


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="not met yet: at the default smoothness 0.1 (chosen on a palette style) the "
                   "tiny-CLIP style's flicker p95 was 10.59 against 10.60 without it (score 0.801 against 0.809): "
                   "in 40 Adam steps the term barely acts; 1.0 gave p95 10.19 at score 0.671. At 120-200 steps 0.3 "
                   "cuts p95 by 55-89 % at 0.3 % of score (seeds 1-3), but only by flattening the style: the mean "
                   "difference between held-out latents' pictures falls from 25 to 5-14 levels, so it is not the default")
def test_smoothness_calms_the_flicker_of_a_clip_style_at_little_cost(tiny_clip_folder, tmp_path):
    """95th percentile of the per-frame change on a fixed latent path: -30 % or more, with
    the held-out CLIP score no more than 10 % lower (tiny CLIP, same seed and steps)."""
    from neural_aesthetics.core.train import report

    measured = {}
    for name, smoothness in (("rough", 0.0), ("smooth", train.DEFAULT_SMOOTHNESS)):
        config = tiny_config(tiny_clip_folder, steps=40, learning_rate=5e-3, batch=0, views=0, seed=1,
                             smoothness=smoothness, preview_every=0)
        loaded = style.load_style(train.train_style(config, tmp_path, name))
        flicker = report.flicker_p95(cppn.CPPN(loaded.architecture, loaded.weights), loaded.architecture["latent_dim"])
        measured[name] = (flicker, loaded.metadata["score"])
    (rough_flicker, rough_score), (smooth_flicker, smooth_score) = measured["rough"], measured["smooth"]
    assert smooth_flicker <= 0.7 * rough_flicker, measured
    assert smooth_score >= 0.9 * rough_score, measured
