"""The training report: how good a trained style is, as a picture and as numbers.

Every training writes, next to the style, ``reports/<name>.png`` and ``reports/<name>.json``
(a ``reports`` folder, so the style menu never mistakes them for styles):

- the PNG: a contact sheet of 12 held-out latents' frames at 16:9 (4 x 3, never trained
  on), under it the loss per step (white) and the CLIP score per step (cyan, when CLIP
  is used), each scaled to its own range, and for a palette two bars: the palette asked
  (each colour in its share) and achieved (the held-out pixels' nearest palette colour,
  drawn in their mean colour, in their share);
- the JSON: the curves, the held-out scores before and after, the palette shares asked
  and achieved, the flicker (95th percentile of the per-frame change of 8-bit levels on a
  fixed latent path, ``sampling.latent_path``) and, when CLIP is used, the margins over
  the untrained network and over ``DISTRACTOR_PROMPTS`` and the score of a second CLIP
  (``judge_clip_*`` settings) that was never trained against, so it is not optimistic.

Pure NumPy except ``clip_evaluation`` (torch, imported only when CLIP was used).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..render import cppn, imageio
from . import sampling

REPORT_FOLDER = "reports"
SHEET_LATENTS = 12
SHEET_COLUMNS = 4
TILE_SIZE = (160, 90)
GAP = 4
CURVE_HEIGHT = 120
BAR_HEIGHT = 24
FLICKER_SIZE = (64, 36)
DISTRACTOR_PROMPTS = ("a plain grey image", "random coloured noise", "a page of printed text")
"""Texts a trained style should score below its prompts (the margin says by how much)."""
BACKGROUND = (24, 24, 28)


def report_paths(style_path) -> tuple[Path, Path]:
    """(PNG, JSON) of the training report of the style at ``style_path`` (.safetensors or .json)."""
    style_path = Path(style_path)
    folder = style_path.parent / REPORT_FOLDER
    return folder / f"{style_path.stem}.png", folder / f"{style_path.stem}.json"


def contact_sheet(renderer: cppn.CPPN, latents: np.ndarray) -> np.ndarray:
    """(H, W, 3) float32: the frames of ``latents`` at ``TILE_SIZE`` in rows of ``SHEET_COLUMNS``."""
    width, height = TILE_SIZE
    rows = -(-len(latents) // SHEET_COLUMNS)
    sheet = np.empty((rows * (height + GAP) + GAP, SHEET_COLUMNS * (width + GAP) + GAP, 3), np.float32)
    sheet[:] = np.asarray(BACKGROUND, np.float32) / 255
    for index, latent in enumerate(latents):
        top, left = GAP + (index // SHEET_COLUMNS) * (height + GAP), GAP + (index % SHEET_COLUMNS) * (width + GAP)
        sheet[top:top + height, left:left + width] = renderer.render(latent, width, height)
    return sheet


def _curve_panel(width: int, series: list[tuple[list[float], tuple[int, int, int]]]) -> np.ndarray:
    """(CURVE_HEIGHT, width, 3) float32: each series as a line, scaled to its own min..max."""
    panel = np.empty((CURVE_HEIGHT, width, 3), np.float32)
    panel[:] = np.asarray(BACKGROUND, np.float32) / 255
    inner = CURVE_HEIGHT - 2 * GAP
    for values, colour in series:
        values = np.asarray([value for value in values if value is not None], dtype=np.float64)
        if len(values) < 2:
            continue
        columns = np.linspace(0, len(values) - 1, width - 2 * GAP)
        sampled = np.interp(columns, np.arange(len(values)), values)
        low, high = float(values.min()), float(values.max())
        rows = GAP + np.round((high - sampled) / max(high - low, 1e-12) * (inner - 1)).astype(int)
        for column, (row_a, row_b) in enumerate(zip(rows, np.append(rows[1:], rows[-1]))):
            panel[min(row_a, row_b):max(row_a, row_b) + 1, GAP + column] = np.asarray(colour, np.float32) / 255
    return panel


def palette_shares_achieved(pixels: np.ndarray, palette: np.ndarray) -> tuple[list[float], np.ndarray]:
    """Each palette colour's share of ``pixels`` (N, 3) (nearest colour wins) and the mean colour (K, 3) of its pixels."""
    nearest = np.argmin(((pixels[:, None, :] - palette[None]) ** 2).sum(axis=2), axis=1)
    shares, means = [], np.array(palette, dtype=np.float32)
    for index in range(len(palette)):
        mine = pixels[nearest == index]
        shares.append(round(len(mine) / max(1, len(pixels)), 4))
        if len(mine):
            means[index] = mine.mean(axis=0)
    return shares, means


def _palette_bar(width: int, colours: np.ndarray, shares) -> np.ndarray:
    """(BAR_HEIGHT, width, 3): ``colours`` side by side, each as wide as its share."""
    bar = np.empty((BAR_HEIGHT, width, 3), np.float32)
    bar[:] = np.asarray(BACKGROUND, np.float32) / 255
    edges = np.round(np.concatenate([[0], np.cumsum(shares) / max(sum(shares), 1e-12)]) * (width - 2 * GAP)).astype(int)
    for colour, start, stop in zip(colours, edges[:-1], edges[1:]):
        bar[GAP // 2:BAR_HEIGHT - GAP // 2, GAP + start:GAP + stop] = colour
    return bar


def flicker_p95(renderer: cppn.CPPN, latent_dim: int) -> float:
    """95th percentile of the per-frame change (mean |difference| of 8-bit levels) on ``sampling.latent_path``."""
    width, height = FLICKER_SIZE
    frames = np.stack([renderer.render(latent, width, height) for latent in sampling.latent_path(latent_dim)])
    return float(np.percentile(sampling.frame_changes(frames), 95))


def clip_evaluation(config, clip, architecture: dict, weights: dict, initial_weights: dict) -> dict:
    """CLIP numbers of the report: similarity of the held-out frames to the prompts (or the
    reference images) and to each distractor prompt, for the trained and the untrained
    network, by the training CLIP and by the judge CLIP when its weights are here."""
    from . import clip_model

    result = {"distractor_prompts": list(DISTRACTOR_PROMPTS), "training_model": _scores(config, clip, architecture,
                                                                                           weights, initial_weights)}
    judge = None
    if config.judge_clip_model or config.judge_clip_checkpoint:
        try:
            judge = clip_model.load_clip(config.judge_clip_model, config.judge_clip_pretrained,
                                         config.judge_clip_checkpoint or None, config.cache_dir or None,
                                         clip.device, allow_download=False)
        except UserError as error:
            result["second_model"] = {"model": config.judge_clip_model, "score": None,
                                      "why_not": str(error).splitlines()[0]}
    if judge is not None:
        result["second_model"] = _scores(config, judge, architecture, weights, initial_weights)
    return result


def _scores(config, clip, architecture: dict, weights: dict, initial_weights: dict) -> dict:
    import torch

    from .training import _reference_embedding

    targets = []
    if config.prompts:
        targets.append(clip.encode_texts(config.prompts).mean(0, keepdim=True))
    if config.reference_images:
        targets.append(_reference_embedding(clip, config.reference_images))
    target = torch.nn.functional.normalize(torch.cat(targets).mean(0, keepdim=True), dim=-1)
    distractors = clip.encode_texts(list(DISTRACTOR_PROMPTS))
    size = clip.image_size[0]
    latents = sampling.held_out_latents(int(architecture["latent_dim"]))

    def similarities(network_weights: dict) -> tuple[float, list[float]]:
        renderer = cppn.CPPN(architecture, network_weights)
        images = torch.from_numpy(np.stack([renderer.render(latent, size, size) for latent in latents]))
        with torch.no_grad():
            embeddings = torch.cat([clip.encode_images(chunk.permute(0, 3, 1, 2).to(clip.device))
                                    for chunk in images.split(8)]).float()
        return (float((embeddings @ target.T).mean()), [float(value) for value in (embeddings @ distractors.T).mean(0)])

    score, distractor_scores = similarities(weights)
    untrained, _ = similarities(initial_weights)
    return {"model": clip.description, "score": round(score, 5), "score_untrained": round(untrained, 5),
            "margin_over_untrained": round(score - untrained, 5),
            "distractor_scores": [round(value, 5) for value in distractor_scores],
            "margin_over_distractors": round(score - max(distractor_scores), 5)}


def write_report(style_path, config, architecture: dict, weights: dict, initial_weights: dict, clip,
                 curve: list[tuple[float, float | None]], metadata: dict) -> tuple[Path, Path]:
    """Write the report PNG and JSON of a just-saved style (see the module docstring); return their paths.

    Args: the style's path, its ``TrainConfig``, architecture, trained and starting
    weights, the training CLIP (or None), the (loss, score) of every step and the
    style's metadata."""
    png_path, json_path = report_paths(style_path)
    renderer = cppn.CPPN(architecture, weights)
    latent_dim = int(architecture["latent_dim"])
    sheet = contact_sheet(renderer, sampling.held_out_latents(latent_dim)[:SHEET_LATENTS])
    width = sheet.shape[1]
    losses, scores = [loss for loss, _score in curve], [score for _loss, score in curve]
    parts = [sheet, _curve_panel(width, [(losses, (235, 235, 235)), (scores, (60, 220, 230))])]
    numbers = {
        "format": "neural_aesthetics.training_report", "version": 1, "style": Path(style_path).stem,
        "label": metadata.get("label"), "origin": metadata.get("origin"), "steps": len(curve),
        "settings": metadata.get("settings"), "loss_per_step": [round(value, 6) for value in losses],
        "score_per_step": [None if value is None else round(value, 5) for value in scores],
        "held_out_score": metadata.get("score"), "held_out_score_untrained": metadata.get("score_initial"),
        "palette_distance": metadata.get("palette_distance"),
        "palette_distance_untrained": metadata.get("palette_distance_initial"),
        "flicker_p95": round(flicker_p95(renderer, latent_dim), 3),
        "flicker_p95_untrained": round(flicker_p95(cppn.CPPN(architecture, initial_weights), latent_dim), 3),
        "flicker_kind": "95th percentile of the mean change of 8-bit levels between consecutive frames "
                        f"({FLICKER_SIZE[0]}x{FLICKER_SIZE[1]}) on a fixed latent path",
    }
    if config.palette:
        from .training import _palette_and_shares

        palette, shares = _palette_and_shares(config)
        pixels = sheet_pixels(renderer, latent_dim)
        achieved, means = palette_shares_achieved(pixels, palette)
        parts += [_palette_bar(width, palette, shares), _palette_bar(width, means, achieved)]
        numbers["palette"] = {"asked": metadata["objective"]["palette"], "shares_asked": [round(float(v), 4) for v in shares],
                              "shares_achieved": achieved,
                              "mean_colour_achieved": ["#" + "".join(f"{round(c * 255):02x}" for c in colour)
                                                       for colour in np.clip(means, 0, 1)]}
    if config.uses_clip and clip is not None:
        numbers["clip"] = clip_evaluation(config, clip, architecture, weights, initial_weights)
    picture = np.concatenate(parts, axis=0)
    png_path.parent.mkdir(parents=True, exist_ok=True)
    imageio.write_atomically(png_path, imageio.prepare(picture, "png8"), "png8")
    text = json.dumps(numbers, indent=1)
    temporary = json_path.with_name(json_path.name + ".partial")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(json_path)
    return png_path, json_path


def sheet_pixels(renderer: cppn.CPPN, latent_dim: int, size: int = 48) -> np.ndarray:
    """(N, 3) colours of every held-out latent's central square at ``size`` px."""
    latents = sampling.held_out_latents(latent_dim)
    return np.concatenate([renderer.render(latent, size, size).reshape(-1, 3) for latent in latents])
