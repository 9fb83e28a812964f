"""Benchmark of one style-training step against a bare CLIP forward+backward, on this CPU.

    .venvs/blender-5.0/bin/python benchmarks/bench_train.py [--batch 8] [--steps 3] [--threads 2]

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
import statistics
import sys
import time

import _setup

_setup.import_core()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=3, help="timed repeats of each (after one warm-up)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (this machine has 2 cores)")
    parser.add_argument("--width", type=int, default=32, help="CPPN hidden width")
    parser.add_argument("--depth", type=int, default=4, help="CPPN hidden layers")
    parser.add_argument("--render-size", type=int, default=224,
                        help="side the trainer renders cutouts at besides the automatic size (default 224: no resize)")
    args = parser.parse_args(argv)

    import open_clip
    import torch

    from neural_aesthetics.core.train import objectives, training as train
    from neural_aesthetics.core.train.clip_model import Clip

    torch.set_num_threads(args.threads)
    device = torch.device("cpu")
    model = open_clip.create_model("ViT-B-32", pretrained=None)
    clip = Clip.wrap(model, open_clip.get_tokenizer("ViT-B-32"), "ViT-B-32 (random weights)", device)
    config = train.TrainConfig(prompts=["a cosmic nebula"], negative_prompt="dull grey", batch=args.batch,
                               width=args.width, depth=args.depth, device="cpu", steps=1000, seed=0)
    trainer, _architecture, _clip = train.build_trainer(config, clip=clip)
    config.render_size = args.render_size
    trainer_other, _architecture, _clip = train.build_trainer(config, clip=clip)
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

    generator = torch.Generator().manual_seed(1)

    def cppn_only() -> None:
        """The CPPN part of a default step alone: render the batch's cutouts, backward of a dummy loss."""
        render = trainer.render_size
        latents = objectives.sample_latents(args.batch, trainer.cppn.latent_dim, generator)
        coordinates = objectives.cutout_coordinates(args.batch, render, trainer.cppn.inputs, generator,
                                                    fourier=getattr(trainer.cppn, "fourier", ()))
        trainer._render(coordinates, latents, render).mean().backward()
        trainer.cppn.zero_grad(set_to_none=True)

    default_name = f"trainer step, render {trainer.render_size} px"
    other_name = f"trainer step, render {trainer_other.render_size} px"
    cppn_name = f"  CPPN fwd+bwd at {trainer.render_size} px"
    runs = {"bare CLIP fwd+bwd": bare, default_name: trainer_step, other_name: trainer_other_step,
            cppn_name: cppn_only}
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
    print(f"{'':32} {'best s/step':>12} {'median s/step':>14} {'images/s (median)':>18} {'ratio to bare':>14}")
    bare_median = statistics.median(seconds["bare CLIP fwd+bwd"])
    for name, values in seconds.items():
        median = statistics.median(values)
        ratio = f"{bare_median / median:14.3f}" if name.startswith("trainer") else ""
        print(f"{name:32} {min(values):12.3f} {median:14.3f} {args.batch / median:18.2f} {ratio}")
    ratio_default = bare_median / statistics.median(seconds[default_name])
    cppn_share = statistics.median(seconds[cppn_name]) / statistics.median(seconds[default_name])
    print(f"default trainer images/s / bare CLIP images/s: {ratio_default:.3f}  (target >= 0.85: "
          f"{'met' if ratio_default >= 0.85 else 'NOT met'}); the CPPN is {cppn_share:.1%} of its step")
    return 0


if __name__ == "__main__":
    sys.exit(main())
