"""A tiny open_clip CLIP trained here, offline, on synthetic captioned images (tests only).

The build and test machines cannot download CLIP weights, so the training tests use this
stand-in: a ~3.4 M parameter CLIP (64 px images) trained contrastively for a few hundred
steps on code-drawn coloured shapes with captions such as "a red circle" or "blue". It is
saved in open_clip's local-folder format (``open_clip_config.json`` + safetensors weights),
the format a user's downloaded open_clip model comes in, and loaded by the trainer through
the same ``clip_model.load_clip(checkpoint=folder)`` path users take.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

COLOURS = {
    "red": (0.9, 0.1, 0.1),
    "green": (0.1, 0.8, 0.15),
    "blue": (0.1, 0.2, 0.95),
    "yellow": (0.95, 0.9, 0.1),
    "magenta": (0.9, 0.1, 0.85),
    "cyan": (0.1, 0.85, 0.9),
}
SHAPES = ("circle", "square", "triangle")
TEMPLATES = ("{colour}", "a {colour} {shape}", "{colour} {shape}", "a {colour} shape", "a picture of a {colour} {shape}")
IMAGE_SIZE = 64

MODEL_CFG = {
    "embed_dim": 64,
    "vision_cfg": {"layers": 2, "width": 64, "patch_size": 8, "image_size": IMAGE_SIZE, "head_width": 32},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}


def draw_image(rng: np.random.Generator, colour: str, shape: str) -> np.ndarray:
    """(3, IMAGE_SIZE, IMAGE_SIZE) float32 in [0, 1]: one coloured shape on a noisy grey ground."""
    size = IMAGE_SIZE
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    grey = rng.uniform(0.05, 0.6)
    image = np.full((size, size, 3), grey, dtype=np.float32) + rng.normal(0, 0.04, (size, size, 3)).astype(np.float32)
    radius = rng.uniform(0.2, 0.42) * size
    cx, cy = rng.uniform(radius * 0.7, size - radius * 0.7, size=2)
    if shape == "circle":
        mask = (xx - cx) ** 2 + (yy - cy) ** 2 <= radius ** 2
    elif shape == "square":
        mask = (np.abs(xx - cx) <= radius * 0.85) & (np.abs(yy - cy) <= radius * 0.85)
    else:  # an upward triangle
        top, bottom = cy - radius, cy + radius * 0.8
        half_width = (yy - top) / (bottom - top) * radius
        mask = (yy >= top) & (yy <= bottom) & (np.abs(xx - cx) <= half_width)
    rgb = np.clip(np.asarray(COLOURS[colour]) + rng.normal(0, 0.06, 3), 0, 1).astype(np.float32)
    image[mask] = rgb + rng.normal(0, 0.03, (int(mask.sum()), 3)).astype(np.float32)
    return np.clip(image, 0, 1).transpose(2, 0, 1)


def _batch(rng: np.random.Generator, size: int):
    """Images, captions and the (image, caption) match matrix of one batch."""
    colours = rng.choice(list(COLOURS), size=size)
    shapes = rng.choice(SHAPES, size=size)
    images = np.stack([draw_image(rng, c, s) for c, s in zip(colours, shapes)])
    templates = rng.choice(TEMPLATES, size=size)
    captions = [t.format(colour=c, shape=s) for t, c, s in zip(templates, colours, shapes)]
    names_shape = ["{shape}" in t for t in templates]
    match = np.array([[colours[i] == colours[j] and (not names_shape[j] or shapes[i] == shapes[j])
                       for j in range(size)] for i in range(size)], dtype=np.float32)
    return images, captions, match


def train_tiny_clip(out_dir: Path, steps: int = 300, batch: int = 64, seed: int = 0) -> Path:
    """Train the tiny CLIP and save it as an open_clip local folder in ``out_dir``; return the folder."""
    import open_clip
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = open_clip.model.CLIP(**MODEL_CFG)
    tokenizer = open_clip.get_tokenizer("ViT-B-32", context_length=MODEL_CFG["text_cfg"]["context_length"])
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-3, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * step / steps)))
    mean = torch.tensor(open_clip.OPENAI_DATASET_MEAN).reshape(1, 3, 1, 1)
    std = torch.tensor(open_clip.OPENAI_DATASET_STD).reshape(1, 3, 1, 1)
    model.train()
    for _ in range(steps):
        images, captions, match = _batch(rng, batch)
        image_features = model.encode_image((torch.from_numpy(images) - mean) / std, normalize=True)
        text_features = model.encode_text(tokenizer(captions), normalize=True)
        logits = model.logit_scale.exp().clamp(max=100) * image_features @ text_features.T
        target = torch.from_numpy(match)
        loss = (torch.sum(-target / target.sum(1, keepdim=True) * logits.log_softmax(1), 1).mean()
                + torch.sum(-target.T / target.T.sum(1, keepdim=True) * logits.T.log_softmax(1), 1).mean()) / 2
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    config = {"model_cfg": MODEL_CFG, "preprocess_cfg": {"mean": list(open_clip.OPENAI_DATASET_MEAN),
                                                         "std": list(open_clip.OPENAI_DATASET_STD)}}
    (out_dir / "open_clip_config.json").write_text(json.dumps(config, indent=2))
    state = {key: value.detach().contiguous() for key, value in model.state_dict().items()}
    save_file(state, str(out_dir / "open_clip_model.safetensors"))
    return out_dir


def colour_accuracy(clip, samples: int = 60, seed: int = 99) -> float:
    """Fraction of fresh synthetic images whose best-matching caption among the bare colour names is right."""
    import torch

    rng = np.random.default_rng(seed)
    names = list(COLOURS)
    truth = [names[index % len(names)] for index in range(samples)]
    images = np.stack([draw_image(rng, colour, SHAPES[index % len(SHAPES)]) for index, colour in enumerate(truth)])
    with torch.no_grad():
        similarity = clip.encode_images(torch.from_numpy(images).to(clip.device)) @ clip.encode_texts(names).T
    best = similarity.argmax(dim=1).tolist()
    return sum(names[index] == colour for index, colour in zip(best, truth)) / samples
