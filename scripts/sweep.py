"""Which network size is worth it? Train one objective at several widths and depths for the same wall time.

    .venvs/blender-5.0/bin/python scripts/sweep.py --prompt "a cosmic nebula" --seconds 600 --out sweep/
    .venvs/blender-5.0/bin/python scripts/sweep.py --palette "teal, coral, midnight blue" --seconds 20 --out sweep/

Every combination of ``--widths`` (default 16 32 64 128) and ``--depths`` (default 3 4 6)
trains the same objective from the same seed for ``--seconds`` of wall time (not the same
number of steps: a wider network takes fewer steps in the same time, which is the
question), then is measured on the held-out latents every training uses. Writes into
``--out``:

- ``sweep.md``: a table of width, depth, steps done, held-out CLIP score (and on unseen
  views), palette distance, flicker (95th percentile of the per-frame change on a fixed
  latent path, 8-bit levels) and the time one 1280x720 frame takes to render in NumPy;
- ``sweep.png``: a contact sheet, one row per network, 4 held-out latents at 16:9.

Run it on a GPU for the real question (ViT-B-32, minutes per network); with the tiny
test CLIP (``--clip-checkpoint``) or a palette it runs anywhere in seconds.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import _setup  # noqa: E402

_setup.import_core()

from neural_aesthetics.core.render import cppn, imageio  # noqa: E402
from neural_aesthetics.core.train import report, sampling, training as train  # noqa: E402

ROW_LATENTS = 4


def train_for(config: train.TrainConfig, seconds: float, clip=None) -> dict:
    """Train ``config`` for ``seconds`` of wall time; return its measurements and a contact-sheet row."""
    trainer, architecture, clip = train.build_trainer(config, clip)
    started, steps = time.perf_counter(), 0
    while steps < config.steps and time.perf_counter() - started < seconds:
        trainer.step()
        steps += 1
    renderer = cppn.CPPN(architecture, trainer.export_weights())
    frame_started = time.perf_counter()
    renderer.render(sampling.held_out_latents(config.latent_dim)[0], 1280, 720)
    unseen = getattr(trainer, "unseen_view_score", lambda: None)()
    return {"width": config.width, "depth": config.depth, "steps": steps, "score": trainer.held_out_score(),
            "unseen": unseen, "palette": trainer.held_out_palette_distance() if config.palette else None,
            "flicker": report.flicker_p95(renderer, config.latent_dim),
            "frame_s": time.perf_counter() - frame_started,
            "row": report.contact_sheet(renderer, sampling.held_out_latents(config.latent_dim)[:ROW_LATENTS]),
            "clip": clip}


def table(results: list[dict], seconds: float, objective: str) -> str:
    """The results as a Markdown table."""
    number = lambda value, digits: "-" if value is None else f"{value:.{digits}f}"  # noqa: E731
    lines = [f"Sweep: {objective}, {seconds:g} s of training per network", "",
             "| width | depth | steps | held-out score | unseen-view score | palette distance | flicker p95 | "
             "1280x720 frame (NumPy) |", "|---|---|---|---|---|---|---|---|"]
    for result in results:
        lines.append(f"| {result['width']} | {result['depth']} | {result['steps']} | {number(result['score'], 4)} | "
                     f"{number(result['unseen'], 4)} | {number(result['palette'], 4)} | {result['flicker']:.2f} | "
                     f"{result['frame_s']:.2f} s |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompt", action="append", default=[], help="what the style should look like (repeatable)")
    parser.add_argument("--palette", default="", help="colour names and/or hex codes")
    parser.add_argument("--clip-checkpoint", default="", help="a local CLIP weights file or open_clip model folder")
    parser.add_argument("--clip-model", default=train.DEFAULT_CLIP_MODEL)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seconds", type=float, default=60.0, help="wall time of training per network")
    parser.add_argument("--widths", type=int, nargs="+", default=[16, 32, 64, 128])
    parser.add_argument("--depths", type=int, nargs="+", default=[3, 4, 6])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True, help="folder for sweep.md and sweep.png")
    args = parser.parse_args(argv)

    base = train.TrainConfig(prompts=args.prompt, palette=train.parse_palette_text(args.palette), steps=1_000_000,
                             clip_model=args.clip_model, clip_checkpoint=args.clip_checkpoint, device=args.device,
                             seed=args.seed, preview_every=0, allow_download=not args.clip_checkpoint)
    train.check_config(base)
    objective = " / ".join(args.prompt) or f"palette {args.palette}"
    results, clip = [], None
    for depth in args.depths:
        for width in args.widths:
            result = train_for(dataclasses.replace(base, width=width, depth=depth), args.seconds, clip)
            clip = result.pop("clip")
            results.append(result)
            print(f"width {width:4d} depth {depth}: {result['steps']} steps", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    text = table(results, args.seconds, objective)
    (args.out / "sweep.md").write_text(text, encoding="utf-8")
    sheet = np.concatenate([result["row"] for result in results], axis=0)
    imageio.write_atomically(args.out / "sweep.png", imageio.prepare(sheet, "png8"), "png8")
    print(text)
    print(f"contact sheet: {args.out / 'sweep.png'} (rows in the table's order)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
