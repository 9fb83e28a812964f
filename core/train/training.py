"""Train a style: a text prompt (and/or reference images, a palette) becomes a reusable CPPN style.

Pure Python at import: torch and open_clip are imported only when a training starts
(``train_style``), so Blender without the training pack can still read configs and recipes.

What a training optimises (each term has a weight; any combination works):

- ``prompts``: pull the frames' CLIP image embedding towards each prompt's text embedding;
- ``negative_prompt``: push it away from that text;
- ``reference_images``: pull it towards the mean embedding of a mood board of images;
- ``palette``: a colour-distribution distance of the frames' pixels to a list of colours
  (sliced Wasserstein, ``core.objectives``), no CLIP needed.

A style must stay on-style for every latent the music can produce, at any framing: every
step draws fresh random latents and ``views`` random cutouts of each one's 16:9 frame
(crop scale, position, rotation, mirror, perspective; ``core.train.sampling``), rendered
straight at the render size, then colour jitter and pixel noise for CLIP; the CLIP terms
mix each latent's averaged view embedding with its single views. A ``smoothness`` term
keeps the picture from jumping when the music moves the latent a little. Adam updates
the CPPN; CLIP stays frozen. On the CPU a run is deterministic for a seed. The result is
scored on held-out latents, saved with ``core.style.save_style`` and described by a
training report (``core.train.report``).

Palette-only training needs neither CLIP nor torch: it runs ``numpy_trainer``.

Use::

    config = TrainConfig(prompts=["cosmic nebula"], steps=800)
    path = train_style(config, out_dir, "nebula", progress=print_progress, cancel=token)
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..render import cppn, style
from ..errors import UserError
from ..progress import Cancelled

DEFAULT_CLIP_MODEL = "ViT-B-32"
DEFAULT_CLIP_PRETRAINED = "laion2b_s34b_b79k"
"""ViT-B-32 trained on LAION-2B (open_clip tag): a good speed/quality choice, 224 px input."""
RECIPES_PATH = Path(__file__).resolve().parents[2] / "styles" / "recipes.json"
RECIPES_FORMAT = "neural_aesthetics.recipes"
RECIPES_VERSION = 1
THUMBNAIL_SIZE = (160, 90)
AUTO_RENDER_SIZE = 128
"""Cutout side rendered for CLIP training on a CPU when ``render_size`` is 0 (at most the
CLIP input size; upsampled bilinearly to it). At 224 px the CPPN's forward+backward costs a
third of a ViT-B-32 step on a CPU; at 128 px about a tenth (benchmarks/bench_train.py). On
a GPU (CUDA, MPS) the automatic size is the CLIP input size itself."""
AUTO_VIEWS = {"cpu": 4, "gpu": 16}
"""Cutouts per latent when ``views`` is 0 (benchmarks/bench_train.py: at equal wall time, 4
views of 2 latents beat 1 view of 8 on unseen views on the CPU; GPUs take more images)."""
AUTO_IMAGES_PER_STEP = {"cpu": 8, "gpu": 64}
"""Images (latents x views) per step when ``batch`` is 0: ``batch = max(1, images // views)``."""
DEFAULT_SMOOTHNESS = 0.1
"""Weight of the smoothness term (mean squared colour change per squared latent move). For
a 120-step palette style it cut the flicker's 95th percentile by 44 % and the palette
distance did not suffer (0.1: p95 10.9 -> 6.1, distance 0.164 -> 0.149; 0.3: 5.4, 0.167;
1.0: 6.1, 0.215, too strong); tests/test_train_quality.py holds it to that."""
PALETTE_ONLY_RENDER = "palette samples"
"""What a palette-only training renders (random points of each view, not whole images)."""
_HEX_COLOUR = re.compile(r"#?([0-9a-fA-F]{6})")


class TrainError(UserError):
    """A training setting or input the user can fix (one line)."""


@dataclass
class TrainConfig:
    """Everything a training run needs, as plain values (JSON-ready; see ``to_dict``).

    Objective:
        prompts: texts the style should look like (each pulls equally).
        negative_prompt: a text the style should not look like ("" = none).
        reference_images: image files (a mood board) the style should look like.
        palette: colours the frames should be made of, "#rrggbb" or [r, g, b] in 0..1.
        palette_shares: each palette colour's share of a frame (None = equal shares).
        prompt_weight, negative_weight, reference_weight, palette_weight: the terms' weights.
    Optimisation:
        steps: Adam steps. learning_rate: Adam's step size.
        batch: random latents per step (0 = automatic, ``AUTO_IMAGES_PER_STEP``).
        views: random cutouts of each latent's frame per step (0 = automatic,
            ``AUTO_VIEWS``: 4 on a CPU, 16 on a GPU).
        smoothness: weight of the term that keeps nearby latents' pictures close (0 = off).
        render_size: side in pixels each cutout is rendered at, then resized to the CLIP
            input size (0 = automatic: on a CPU ``AUTO_RENDER_SIZE`` or the CLIP input
            size if smaller, on a GPU the CLIP input size; palette-only training samples
            points instead).
        seed: seeds the start weights and every random draw (deterministic on the CPU).
        device: "auto" (CUDA, then Apple MPS, then CPU), "cpu", "cuda", "mps" (any case).
    Network (ignored when ``init_style`` is given: its architecture is kept):
        width, depth: hidden units per layer and hidden layers. latent_dim: latent size.
        activation: "tanh" or "sin".
        init_style: a style file (.safetensors or .json) to fine-tune instead of starting
            from random weights ("" = random start).
    CLIP (only loaded when a CLIP term is used):
        clip_model: open_clip model name. clip_pretrained: its pretrained tag.
        clip_checkpoint: a local weights file for ``clip_model``, or an open_clip model
            folder (``open_clip_config.json`` + weights); "" = use the pretrained tag.
        cache_dir: where downloaded weights are kept ("" = open_clip's default).
        allow_download: False refuses to download (Blender's online access is off).
        judge_clip_model, judge_clip_pretrained, judge_clip_checkpoint: a second CLIP
            that scores the finished style in its report (never trained against; used
            only when its weights are already on this machine; "" model = none).
    Reporting:
        preview_every: a preview image goes to ``progress`` every this many steps (0 = never).
        label: the style's menu label ("" = made from the objective).
    """

    prompts: list[str] = field(default_factory=list)
    negative_prompt: str = ""
    reference_images: list[str] = field(default_factory=list)
    palette: list = field(default_factory=list)
    palette_shares: list[float] | None = None
    prompt_weight: float = 1.0
    negative_weight: float = 0.3
    reference_weight: float = 1.0
    palette_weight: float = 1.0
    steps: int = 600
    learning_rate: float = 2e-3
    batch: int = 0
    views: int = 0
    smoothness: float = DEFAULT_SMOOTHNESS
    render_size: int = 0
    seed: int = 0
    device: str = "auto"
    width: int = cppn.DEFAULT_WIDTH
    depth: int = 4
    latent_dim: int = 8
    activation: str = "tanh"
    init_style: str = ""
    clip_model: str = DEFAULT_CLIP_MODEL
    clip_pretrained: str = DEFAULT_CLIP_PRETRAINED
    clip_checkpoint: str = ""
    cache_dir: str = ""
    allow_download: bool = True
    judge_clip_model: str = "ViT-B-16"
    judge_clip_pretrained: str = "laion2b_s34b_b88k"
    judge_clip_checkpoint: str = ""
    preview_every: int = 50
    label: str = ""

    def to_dict(self) -> dict:
        """The config as plain JSON-ready values."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict, source: str = "training settings") -> "TrainConfig":
        """A config from plain values; unknown keys raise ``TrainError`` naming ``source``."""
        if not isinstance(values, dict):
            raise TrainError(f"{source}: expected an object of settings, got {type(values).__name__}")
        known = {item.name for item in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise TrainError(f"{source}: unknown setting(s) {unknown}; known: {sorted(known)}")
        return cls(**values)

    @property
    def uses_clip(self) -> bool:
        """True if a CLIP term has a target and a weight above 0 (then CLIP is loaded)."""
        return bool((self.prompts and self.prompt_weight > 0)
                    or (self.negative_prompt and self.negative_weight > 0)
                    or (self.reference_images and self.reference_weight > 0))


@dataclass
class TrainProgress:
    """One progress report, after each step.

    Attributes:
        step: steps done (1..total). total: steps planned.
        loss: the step's total loss (lower is better).
        score: the step's CLIP score (mean cosine similarity of the batch to the prompts
            and reference images), None when training without CLIP.
        seconds: wall time since the training started (CLIP loading included).
        preview: (90, 160, 3) uint8 RGB of the style's first bake frame, every
            ``preview_every`` steps and at the last step, else None.
    """

    step: int
    total: int
    loss: float
    score: float | None
    seconds: float
    preview: np.ndarray | None = None

    @property
    def message(self) -> str:
        """A one-line summary, e.g. for ``jobs.ProgressCallback``'s message."""
        score = "" if self.score is None else f", CLIP score {self.score:.3f}"
        return f"Step {self.step}/{self.total}: loss {self.loss:.4f}{score}"


# --- checking inputs ---------------------------------------------------------------------


def parse_colour(value, source: str = "palette") -> tuple[float, float, float]:
    """An RGB triple in 0..1 from "#rrggbb" / "rrggbb" or [r, g, b] in 0..1; TrainError otherwise."""
    if isinstance(value, str):
        match = _HEX_COLOUR.fullmatch(value.strip())
        if match:
            digits = match.group(1)
            return tuple(int(digits[index:index + 2], 16) / 255.0 for index in (0, 2, 4))
    elif (isinstance(value, (list, tuple)) and len(value) == 3
          and all(isinstance(c, (int, float)) and not isinstance(c, bool) and 0 <= c <= 1 for c in value)):
        return tuple(float(c) for c in value)
    raise TrainError(f"{source}: colour {value!r} is not '#rrggbb' or [r, g, b] with values from 0 to 1")


def colour_hex(rgb) -> str:
    """'#rrggbb' of an RGB triple in 0..1."""
    return "#" + "".join(f"{round(min(1.0, max(0.0, float(c))) * 255):02x}" for c in rgb)


def _check_number(name: str, value, low: float, high: float, whole: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok and whole:
        ok = float(value).is_integer()
    if not ok or not low <= value <= high:
        kind = "a whole number" if whole else "a number"
        raise TrainError(f"Training setting '{name}' must be {kind} from {low:g} to {high:g}, got {value!r}")


def check_config(config: TrainConfig) -> None:
    """Raise ``TrainError`` (one line) for a setting that cannot work; nothing heavy is loaded."""
    if not isinstance(config.prompts, list) or not all(isinstance(p, str) and p.strip() for p in config.prompts):
        raise TrainError("Training setting 'prompts' must be a list of non-empty texts")
    for name, low, high, whole in (("steps", 1, 1_000_000, True), ("batch", 0, 256, True), ("views", 0, 64, True),
                                   ("smoothness", 0, 1e6, False),
                                   ("render_size", 0, 1024, True), ("width", 1, cppn.MAX_WIDTH, True),
                                   ("depth", 1, cppn.MAX_DEPTH, True), ("latent_dim", 1, cppn.MAX_LATENT_DIM, True),
                                   ("learning_rate", 1e-7, 1.0, False), ("preview_every", 0, 1_000_000, True),
                                   ("prompt_weight", 0, 1e6, False), ("negative_weight", 0, 1e6, False),
                                   ("reference_weight", 0, 1e6, False), ("palette_weight", 0, 1e6, False),
                                   ("seed", 0, 2**63 - 1, True)):
        _check_number(name, getattr(config, name), low, high, whole)
    if config.render_size and config.render_size < 16:
        raise TrainError(f"Training setting 'render_size' must be 0 (automatic) or at least 16, got {config.render_size}")
    if config.activation not in cppn.ACTIVATIONS:
        raise TrainError(f"Training setting 'activation' must be one of {list(cppn.ACTIVATIONS)}, got {config.activation!r}")
    if str(config.device).lower() not in ("auto", "cpu", "cuda", "mps") and not str(config.device).lower().startswith("cuda:"):
        raise TrainError(f"Training setting 'device' must be auto, cpu, cuda or mps, got {config.device!r}")
    if not isinstance(config.palette, list):
        raise TrainError("Training setting 'palette' must be a list of colours")
    palette = [parse_colour(colour) for colour in config.palette]
    if config.palette_shares is not None:
        shares = config.palette_shares
        if (not isinstance(shares, list) or len(shares) != len(palette) or not all(
                isinstance(s, (int, float)) and not isinstance(s, bool) and s >= 0 for s in shares) or sum(shares) <= 0):
            raise TrainError("Training setting 'palette_shares' must be one non-negative number per palette colour")
    for image in config.reference_images:
        if not Path(image).expanduser().is_file():
            raise TrainError(f"Reference image not found: {image}")
    uses_palette = bool(palette) and config.palette_weight > 0
    if not config.uses_clip and not uses_palette:
        raise TrainError("Nothing to train towards: give a prompt, reference images or a palette (with a weight above 0)")


REFERENCE_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
"""Files of a mood-board folder that count as reference images (any case)."""
PROMPT_SEPARATOR = "|"
"""Separates several prompts typed into one text field."""


def split_prompts(text: str) -> list[str]:
    """The prompts of one text field: ``"nebula | deep space"`` gives two; blanks are dropped."""
    return [part.strip() for part in str(text).split(PROMPT_SEPARATOR) if part.strip()]


def parse_palette_text(text: str) -> list[str]:
    """The colours of a palette typed as text, as '#rrggbb': hex codes and colour names mixed,
    e.g. ``"teal, coral, midnight blue"`` or ``"#ff2a6d, #05d9e8 1a1a40"``.

    Colours are separated by commas or semicolons; hex codes also by spaces. A name may
    have several words (``colour_names``: CSS and XKCD names; the longest match wins). An
    empty text is no palette. Raises ``TrainError`` naming the first word that is not a
    colour, with the closest names.
    """
    from . import colour_names

    colours = []
    for part in re.split(r"[,;]+", str(text)):
        words = part.split()
        start = 0
        while start < len(words):
            for stop in range(len(words), start, -1):
                phrase = " ".join(words[start:stop])
                value = colour_names.lookup(phrase) or (phrase if _HEX_COLOUR.fullmatch(phrase) else None)
                if value:
                    colours.append(colour_hex(parse_colour(value, "Palette")))
                    start = stop
                    break
            else:
                word = words[start]
                suggestions = colour_names.closest(" ".join(words[start:start + 2])) or colour_names.closest(word)
                hint = f"; closest names: {', '.join(suggestions)}" if suggestions else ""
                raise TrainError(f"Palette: {word!r} is not a colour name or a '#rrggbb' code{hint}")
    return colours


def reference_images_in(folder) -> list[str]:
    """The image files (``REFERENCE_IMAGE_SUFFIXES``) directly inside a mood-board folder, sorted.

    Raises ``TrainError`` if the folder does not exist or holds no image.
    """
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise TrainError(f"Reference images folder not found: {path}")
    images = sorted(str(item) for item in path.iterdir()
                    if item.is_file() and item.suffix.lower() in REFERENCE_IMAGE_SUFFIXES)
    if not images:
        raise TrainError(f"No images in the reference folder {path} "
                         f"(looked for {', '.join(REFERENCE_IMAGE_SUFFIXES)})")
    return images


def free_style_name(wanted: str, taken) -> str:
    """``wanted`` made a valid style name, numbered (``name_2``, ``name_3``, ...) if it is ``taken``.

    A new style must never replace a user's style file nor be hidden behind a bundled
    style of the same name.
    """
    base = style.safe_style_name(wanted)[:60]
    taken = set(taken)
    name, number = base, 1
    while name in taken:
        number += 1
        name = f"{base}_{number}"
    return name


# --- recipes -----------------------------------------------------------------------------


def load_recipes(path=None) -> dict[str, TrainConfig]:
    """The training recipes of a recipes file (default: the bundled ``styles/recipes.json``).

    A recipes file is JSON: ``{"format": "neural_aesthetics.recipes", "version": 1,
    "recipes": {name: {TrainConfig fields...}}}``; names follow the style-name rule.
    Raises ``TrainError`` (one line naming the file) if it is missing or malformed.
    """
    path = Path(path) if path is not None else RECIPES_PATH
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TrainError(f"{path}: recipes file not found") from None
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise TrainError(f"{path}: not a readable recipes file ({error})") from None
    if not isinstance(data, dict) or data.get("format") != RECIPES_FORMAT:
        raise TrainError(f"{path}: not a recipes file (its 'format' must be {RECIPES_FORMAT!r})")
    if data.get("version") != RECIPES_VERSION:
        raise TrainError(f"{path}: recipes version {data.get('version')!r}, but this extension reads version {RECIPES_VERSION}")
    recipes = data.get("recipes")
    if not isinstance(recipes, dict):
        raise TrainError(f"{path}: 'recipes' must be an object of name -> settings")
    configs = {}
    for name, values in recipes.items():
        if not style.STYLE_NAME_PATTERN.fullmatch(name):
            raise TrainError(f"{path}: recipe name {name!r} is not allowed (letters, digits, '-' and '_')")
        config = TrainConfig.from_dict(values, f"{path.name}, recipe '{name}'")
        try:
            check_config(config)
        except TrainError as error:
            raise TrainError(f"{path.name}, recipe '{name}': {error}") from None
        configs[name] = config
    return configs


# --- training ----------------------------------------------------------------------------


def _is_cancelled(cancel) -> bool:
    if cancel is None:
        return False
    if callable(cancel):
        return bool(cancel())
    return bool(cancel.cancelled)


def _reference_embedding(clip, paths: list[str]):
    """Unit mean CLIP embedding (1, D) of the reference images (centre square, CLIP input size)."""
    import torch
    from PIL import Image, UnidentifiedImageError

    height, width = clip.image_size
    images = []
    for path in paths:
        try:
            with Image.open(Path(path).expanduser()) as image:
                image = image.convert("RGB")
                side = min(image.size)
                left, top = (image.width - side) // 2, (image.height - side) // 2
                image = image.crop((left, top, left + side, top + side)).resize((width, height), Image.BICUBIC)
                images.append(np.asarray(image, dtype=np.float32) / 255.0)
        except (OSError, UnidentifiedImageError, ValueError) as error:
            raise TrainError(f"Reference image {path} cannot be read ({error})") from None
    batch = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).to(clip.device)
    with torch.no_grad():
        embeddings = torch.cat([clip.encode_images(chunk) for chunk in batch.split(8)])
    return torch.nn.functional.normalize(embeddings.mean(0, keepdim=True), dim=-1)


def objective_record(config: TrainConfig) -> dict:
    """The objective as stored in a style's metadata (JSON-ready)."""
    return {
        "prompts": list(config.prompts),
        "negative_prompt": config.negative_prompt,
        "reference_images": [Path(image).name for image in config.reference_images],
        "palette": [colour_hex(parse_colour(colour)) for colour in config.palette],
        "palette_shares": config.palette_shares,
        "weights": {term: weight for term, weight, used in (
            ("prompt", config.prompt_weight, bool(config.prompts)),
            ("negative", config.negative_weight, bool(config.negative_prompt)),
            ("reference", config.reference_weight, bool(config.reference_images)),
            ("palette", config.palette_weight, bool(config.palette))) if used},
        "latents": "standard normal x uniform(0.5, 1.6) per sample, fresh every step",
        "augmentations": "views of the 16:9 frame (core.train.sampling.TRAINING_VIEWS: crop half-size 0.4-1.0, "
                         "rotation +-0.3 rad, mirror, perspective tilt 0.25; for CLIP colour jitter and noise 0.02)",
    }


def _default_label(config: TrainConfig, origin: str, steps: int) -> str:
    if origin == "clip":
        what = " / ".join(config.prompts) or f"{len(config.reference_images)} reference image(s)"
        extra = f" + palette of {len(config.palette)}" if config.palette and config.palette_weight > 0 else ""
        return f"CLIP-trained: {what}{extra} ({steps} steps)"
    return f"palette-trained: {len(config.palette)} colours, not CLIP-trained ({steps} steps)"


def _architecture_and_weights(config: TrainConfig) -> tuple[dict, dict | None]:
    """The network to train: ``init_style``'s (checked by ``load_style``) or a new one (weights None)."""
    if config.init_style:
        start = style.load_style(config.init_style)  # every check of a style from the internet
        return start.architecture, start.weights
    return {"inputs": ["x", "y", "r"], "latent_dim": int(config.latent_dim), "width": int(config.width),
            "depth": int(config.depth), "activation": config.activation, "output": "sigmoid"}, None


def _palette_and_shares(config: TrainConfig) -> tuple[np.ndarray, np.ndarray]:
    """(K, 3) float32 palette colours and (K,) shares summing to 1."""
    colours = np.asarray([parse_colour(colour) for colour in config.palette], dtype=np.float32)
    shares = np.asarray(config.palette_shares if config.palette_shares is not None else [1.0] * len(colours),
                        dtype=np.float64)
    return colours, shares / shares.sum()


def automatic_views_and_batch(config: TrainConfig, on_gpu: bool) -> tuple[int, int]:
    """(views per latent, latents per step) of a config, its 0s made automatic for the device."""
    kind = "gpu" if on_gpu else "cpu"
    views = int(config.views) or AUTO_VIEWS[kind]
    return views, int(config.batch) or max(1, AUTO_IMAGES_PER_STEP[kind] // views)


def build_trainer(config: TrainConfig, clip=None):
    """The trainer of a checked config, its CLIP loaded (or ``clip`` used) when needed.

    A palette-only config gets a ``numpy_trainer.PaletteTrainer`` (no torch needed); any
    CLIP term a ``torch_trainer.Trainer``. Returns ``(trainer, architecture, clip)``.
    """
    architecture, weights = _architecture_and_weights(config)
    if not config.uses_clip:
        from . import numpy_trainer

        colours, shares = _palette_and_shares(config)
        _views, batch = automatic_views_and_batch(dataclasses.replace(config, views=1), on_gpu=False)
        trainer = numpy_trainer.PaletteTrainer(architecture, weights, colours, shares, batch, config.learning_rate,
                                               config.smoothness, config.seed, total_steps=config.steps)
        return trainer, architecture, None
    try:
        import torch
    except ImportError:
        raise TrainError("Training with a prompt or reference images needs torch: install the training pack in "
                         "the extension's preferences (a palette alone trains without it)") from None
    from . import torch_trainer
    from ..render.cppn_torch import pick_device

    device_name = str(config.device).lower()
    try:
        device = pick_device(device_name)
        torch.empty(1, device=device)
    except (RuntimeError, AssertionError) as error:
        raise TrainError(f"Training device {config.device!r} is not available here ({str(error).splitlines()[0]})") from None
    torch.manual_seed(config.seed)

    if clip is None:
        from . import clip_model

        clip = clip_model.load_clip(config.clip_model, config.clip_pretrained, config.clip_checkpoint or None,
                                    config.cache_dir or None, device, config.allow_download)
    targets = torch_trainer.Targets()
    if config.prompts:
        targets.prompts = clip.encode_texts(config.prompts)
    if config.negative_prompt:
        targets.negative = clip.encode_texts([config.negative_prompt])
    if config.reference_images:
        targets.reference = _reference_embedding(clip, config.reference_images)
    if config.palette:
        colours, shares = _palette_and_shares(config)
        targets.palette = torch.from_numpy(colours).to(device)
        targets.palette_shares = torch.from_numpy(shares.astype(np.float32)).to(device)
    on_gpu = device.type in ("cuda", "mps")
    render_size = config.render_size or (clip.image_size[0] if on_gpu else min(AUTO_RENDER_SIZE, clip.image_size[0]))
    views, batch = automatic_views_and_batch(config, on_gpu)
    trainer = torch_trainer.Trainer(
        architecture, weights, targets,
        {"prompt": config.prompt_weight, "negative": config.negative_weight,
         "reference": config.reference_weight, "palette": config.palette_weight},
        clip, batch, render_size, config.learning_rate, config.seed, device,
        total_steps=config.steps, views=views, smoothness=config.smoothness)
    return trainer, architecture, clip


def train_style(config: TrainConfig, out_dir, name: str,
                progress: Callable[[TrainProgress], None] | None = None,
                cancel=None, clip=None) -> Path:
    """Train a style and save it as ``out_dir/name.{safetensors,json,png}``; return the ``.safetensors`` path.

    Also writes the training report ``out_dir/reports/name.{png,json}`` (``report``).

    Args:
        config: what to train towards and how (checked first: ``TrainError`` for bad settings).
        out_dir: folder of the style files (created if missing).
        name: the style's name (letters, digits, '-' and '_').
        progress: called after every step with a ``TrainProgress``.
        cancel: a ``jobs.CancelToken`` (or a callable returning True to stop), checked
            before every step: a cancelled training raises ``jobs.Cancelled`` after at most
            the one step in progress, and writes nothing.
        clip: an already loaded ``clip_model.Clip`` to use instead of loading one (tests,
            benchmarks, several trainings in one process).

    Raises ``UserError`` subclasses for problems the user can fix (settings, CLIP weights
    missing offline, an init style that fails ``style.load_style``'s checks).
    """
    from . import report

    if not isinstance(name, str) or not style.STYLE_NAME_PATTERN.fullmatch(name):
        raise TrainError(f"Style name {name!r} is not allowed: use up to 64 letters, digits, '-' and '_'")
    check_config(config)
    started = time.perf_counter()
    if _is_cancelled(cancel):
        raise Cancelled("cancelled")
    trainer, architecture, clip = build_trainer(config, clip)
    initial_weights = trainer.export_weights()
    initial_score = trainer.held_out_score()
    initial_palette = trainer.held_out_palette_distance()
    curve = []

    for step in range(1, config.steps + 1):
        if _is_cancelled(cancel):
            raise Cancelled("cancelled")
        result = trainer.step()
        curve.append((result.loss, result.score))
        if progress is not None:
            show = step == config.steps or (config.preview_every and step % config.preview_every == 0)
            progress(TrainProgress(step, config.steps, result.loss, result.score,
                                   time.perf_counter() - started, trainer.preview() if show else None))

    final_score = trainer.held_out_score()
    final_palette = trainer.held_out_palette_distance()
    origin = "clip" if config.uses_clip else "palette"
    rounded = lambda value: None if value is None else round(value, 6)  # noqa: E731
    metadata = {
        "label": config.label or _default_label(config, origin, config.steps),
        "origin": origin,
        "objective": objective_record(config),
        "prompts": list(config.prompts),
        "clip_model": clip.description if config.uses_clip else None,
        "score": rounded(final_score),
        "score_initial": rounded(initial_score),
        "score_kind": "mean CLIP cosine similarity of 16 held-out latents' frames to the prompts / reference images"
                      if config.uses_clip else None,
        "palette_distance": rounded(final_palette),
        "palette_distance_initial": rounded(initial_palette),
        "steps": config.steps,
        "seed": config.seed,
        "settings": {
            "learning_rate": config.learning_rate, "batch": trainer.batch,
            "views": getattr(trainer, "views", 1), "smoothness": config.smoothness,
            "render_size": trainer.render_size or PALETTE_ONLY_RENDER,
            "device": str(trainer.device), "init_style": Path(config.init_style).name if config.init_style else None,
            "seconds": round(time.perf_counter() - started, 1),
        },
    }
    if _is_cancelled(cancel):
        raise Cancelled("cancelled")
    weights = trainer.export_weights()
    path = style.save_style(out_dir, name, architecture, weights, metadata, trainer.preview())
    report.write_report(path, config, architecture, weights, initial_weights, clip, curve, metadata)
    return path
