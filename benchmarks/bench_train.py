"""Benchmark of style training on this CPU: a step against a bare CLIP forward+backward, views, palette-only.

    .venvs/blender-5.0/bin/python benchmarks/bench_train.py [--batch 8] [--steps 3] [--threads 2]
        [--part speed|views|palette|all] [--views-seconds 60]

Three parts (``--part``; default all):

1. **speed** (below): images/s of a trainer step at 1, 4 and 8 views per latent (8 images
   per step each) beside a bare CLIP forward+backward.
2. **views**: on the tiny CLIP the tests train (``tests/tiny_clip.py``, trained here
   first), a colour prompt ("red") and a shape prompt ("a red circle", where crops and
   rotations change what the model sees) each trained for the same wall time with 1 view
   of 8 latents and with 4 views of 2 latents per step, then scored on views no training
   step draws (``Trainer.unseen_view_score``: wider crops, rotations, tilts and jitter,
   fixed seed).
3. **palette**: a 300-step palette-only training (``train_style``, the shipped defaults)
   in a fresh process, once as is and once with torch made unimportable, as on a Blender
   without the training pack; CPU seconds and wall seconds (the target: under 60 s on 2
   cores). The wall time includes the load of whatever else runs on the machine.

Both sides use the same ViT-B-32 image tower (``open_clip.create_model('ViT-B-32',
pretrained=None)``: the real architecture with random weights, nothing downloaded),
frozen as in training, at 224 x 224 px and the same batch:

- **bare CLIP**: random images (requiring grad) -> normalise -> ``encode_image`` ->
  cosine loss to two text embeddings -> ``backward`` to the images. The least any
  CLIP-guided trainer must do per image.
- **trainer step**: ``core.train_torch.Trainer.step`` exactly as ``train_style`` runs it:
  fresh random latents and cutout coordinates, the CPPN render of the batch (at the
  automatic render size, 128 px, bilinearly upsampled to 224; and again at ``--render-size``,
  default 224 = no resize), pixel noise, CLIP encode, prompt + negative-prompt loss,
  backward through CLIP into the CPPN, the learning-rate schedule and an Adam step.

Prints images/s of each and their ratio (target >= 0.85: the CPPN, augmentations and
bookkeeping cost at most 15 %), and the CPPN's own share. After one warm-up step of each,
the two are timed alternately (A B A B ...) so drift on a noisy machine hits both alike;
the best and the median of the repeats are shown. Only ratios measured in this one run mean anything.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from pathlib import Path

import numpy as np

import _setup

_setup.import_core()


from neural_aesthetics.core.train import sampling  # noqa: E402  (after import_core)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=3, help="timed repeats of each (after one warm-up)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (this machine has 2 cores)")
    parser.add_argument("--width", type=int, default=32, help="CPPN hidden width")
    parser.add_argument("--depth", type=int, default=4, help="CPPN hidden layers")
    parser.add_argument("--render-size", type=int, default=224,
                        help="side the trainer renders cutouts at besides the automatic size (default 224: no resize)")
    parser.add_argument("--part", choices=("speed", "views", "palette", "all"), default="all")
    parser.add_argument("--views-seconds", type=float, default=60.0, help="wall time of each views run")
    args = parser.parse_args(argv)
    if args.part in ("speed", "all"):
        speed(args)
    if args.part in ("views", "all"):
        views_quality(args)
    if args.part in ("palette", "all"):
        palette_only()
    return 0


def speed(args) -> None:
    """Part 1: images/s of trainer steps (1, 4, 8 views) beside a bare CLIP forward+backward."""
    import open_clip
    import torch

    from neural_aesthetics.core.train import training as train
    from neural_aesthetics.core.train.clip_model import Clip

    torch.set_num_threads(args.threads)
    device = torch.device("cpu")
    model = open_clip.create_model("ViT-B-32", pretrained=None)
    clip = Clip.wrap(model, open_clip.get_tokenizer("ViT-B-32"), "ViT-B-32 (random weights)", device)
    config = train.TrainConfig(prompts=["a cosmic nebula"], negative_prompt="dull grey", batch=args.batch, views=1,
                               width=args.width, depth=args.depth, device="cpu", steps=1000, seed=0)
    trainer, _architecture, _clip = train.build_trainer(config, clip=clip)
    trainer_other, _architecture, _clip = train.build_trainer(dataclasses.replace(config, render_size=args.render_size),
                                                              clip=clip)
    with_views = {count: train.build_trainer(dataclasses.replace(config, views=count, batch=max(1, args.batch // count)),
                                             clip=clip)[0] for count in (4, 8)}
    size = clip.image_size[0]
    assert size == 224

    texts = clip.encode_texts(["a cosmic nebula", "dull grey"])
    images = torch.rand(args.batch, 3, size, size, requires_grad=True)

    def bare() -> None:
        embeddings = clip.encode_images(images)
        loss = -(embeddings @ texts[0]).mean() + 0.3 * (embeddings @ texts[1]).mean()
        loss.backward()
        images.grad = None

    def trainer_step() -> None:
        trainer.step()

    def trainer_other_step() -> None:
        trainer_other.step()

    rng = np.random.default_rng(1)

    def cppn_only() -> None:
        """The CPPN part of a 1-view step alone: render the batch's views, backward of a dummy loss."""
        latents = sampling.sample_latents(rng, args.batch, trainer.cppn.latent_dim)
        images, _seen, _coordinates = trainer._view_images(latents, 1, trainer.render_size, sampling.TRAINING_VIEWS, rng)
        images.mean().backward()
        trainer.cppn.zero_grad(set_to_none=True)

    default_name = f"trainer, 1 view, render {trainer.render_size} px"
    other_name = f"trainer, 1 view, render {trainer_other.render_size} px"
    cppn_name = f"  CPPN fwd+bwd at {trainer.render_size} px"
    runs = {"bare CLIP fwd+bwd": bare, default_name: trainer_step, other_name: trainer_other_step,
            cppn_name: cppn_only}
    for count, view_trainer in with_views.items():
        runs[f"trainer, {count} views x {view_trainer.batch} latents"] = view_trainer.step
    for run in runs.values():  # warm-up
        run()
    seconds = {name: [] for name in runs}
    for _ in range(args.steps):
        for name, run in runs.items():
            started = time.perf_counter()
            run()
            seconds[name].append(time.perf_counter() - started)

    print(f"bench_train: ViT-B-32 (random weights) image tower, batch {args.batch}, {size}x{size} px, "
          f"CPPN width {args.width} depth {args.depth}, {args.threads} torch threads, {args.steps} timed repeats")
    print(f"{'':36} {'best s/step':>12} {'median s/step':>14} {'images/s (median)':>18} {'ratio to bare':>14}")
    bare_median = statistics.median(seconds["bare CLIP fwd+bwd"])
    for name, values in seconds.items():
        median = statistics.median(values)
        ratio = f"{bare_median / median:14.3f}" if name.startswith("trainer") else ""
        print(f"{name:36} {min(values):12.3f} {median:14.3f} {args.batch / median:18.2f} {ratio}")
    ratio_default = bare_median / statistics.median(seconds[default_name])
    cppn_share = statistics.median(seconds[cppn_name]) / statistics.median(seconds[default_name])
    print(f"1-view trainer images/s / bare CLIP images/s: {ratio_default:.3f}  (target >= 0.85: "
          f"{'met' if ratio_default >= 0.85 else 'NOT met'}); the CPPN is {cppn_share:.1%} of its step")


VIEWS_PROMPTS = ("red", "a red circle")
"""Part 2's prompts: a colour alone, and a shape the tiny CLIP was taught to tell apart."""


def views_quality(args) -> None:
    """Part 2: held-out score on unseen views after equal wall time with 1 and with 4 views per latent."""
    import tempfile

    import torch

    sys.path.insert(0, str(_setup.ROOT / "tests"))
    import tiny_clip

    from neural_aesthetics.core.train import clip_model, training as train

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    folder = tiny_clip.train_tiny_clip(Path(tempfile.mkdtemp(prefix="bench_tiny_clip_")), steps=60, batch=32, seed=0)
    clip = clip_model.load_clip(checkpoint=folder, device="cpu")
    print(f"\nviews: tiny CLIP ({folder.name}), {args.views_seconds:g} s of training each, "
          f"score on {sampling.HELD_OUT_LATENTS} held-out latents x 4 unseen views")
    print(f"{'':44} {'steps':>6} {'unseen-view score':>18} {'before':>8}")
    for prompt in VIEWS_PROMPTS:
        for views, batch in ((1, 8), (4, 2)):
            config = train.TrainConfig(prompts=[prompt], views=views, batch=batch, learning_rate=5e-3, steps=100_000,
                                       device="cpu", seed=1, smoothness=0.0)
            trainer, _architecture, _clip = train.build_trainer(config, clip=clip)
            before = trainer.unseen_view_score()
            started, steps = time.perf_counter(), 0
            while time.perf_counter() - started < args.views_seconds:
                trainer.step()
                steps += 1
            row = f"'{prompt}', {views} view(s) x {batch} latents"
            print(f"{row:44} {steps:6d} {trainer.unseen_view_score():18.4f} {before:8.4f}")


PALETTE_RUN = """
import sys, time, tempfile
if {block_torch}:
    sys.modules["torch"] = None
sys.path.insert(0, {benchmarks!r})
import _setup
_setup.import_core()
_setup.ensure_libs()
from neural_aesthetics.core.train import training as train
config = train.TrainConfig(palette=["#ff2a6d", "#05d9e8", "#1a1a40", "#d300c5"], steps=300, preview_every=0)
wall, cpu = time.perf_counter(), time.process_time()
path = train.train_style(config, tempfile.mkdtemp(prefix="bench_palette_"), "palette")
print(time.perf_counter() - wall, time.process_time() - cpu)
"""


def palette_only() -> None:
    """Part 3: a 300-step palette-only training, with torch importable and without."""
    import os
    import subprocess

    print(f"\npalette only: 300 steps of the default palette training, a fresh process each "
          f"(load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    print(f"{'':24} {'wall s':>8} {'CPU s':>8} {'target':>8}")
    for name, block in (("torch importable", False), ("without torch", True)):
        code = PALETTE_RUN.format(block_torch=block, benchmarks=str(_setup.ROOT / "benchmarks"))
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        wall, cpu = (float(value) for value in done.stdout.split()[-2:])
        print(f"{name:24} {wall:8.1f} {cpu:8.1f} {'< 60 s':>8}  ({'met' if wall < 60 else 'NOT met'} by wall time, "
              f"{'met' if cpu < 60 else 'NOT met'} by CPU time)")


if __name__ == "__main__":
    sys.exit(main())
