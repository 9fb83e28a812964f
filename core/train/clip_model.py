"""CLIP for training styles, loaded through open_clip (imports torch: training only).

Import this module only where the training pack is wanted: it imports torch at once and
open_clip when a model is loaded. Nothing is downloaded at import time.

Where the weights come from (``load_clip``):

- ``checkpoint`` set, a **folder**: open_clip's local-folder format, an
  ``open_clip_config.json`` (its ``model_cfg`` gives the architecture) next to the weights
  (``open_clip_model.safetensors``, ``open_clip_pytorch_model.bin`` ...), as a Hugging Face
  hub repository of an open_clip model is laid out. ``model_name`` is not used.
- ``checkpoint`` set, a **file**: weights for the built-in architecture ``model_name``.
- otherwise ``model_name`` + ``pretrained`` tag (e.g. ``ViT-B-32`` + ``laion2b_s34b_b79k``):
  taken from ``cache_dir`` if already there, else downloaded into it on first use (only
  when ``allow_download``). Offline, a ``UserError`` says which file to fetch and where to
  point the local checkpoint setting.

Checkpoints are read as data only: ``.safetensors`` through safetensors, anything else with
``torch.load(weights_only=True)``, which refuses pickles that would run code.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import UserError

DEFAULT_MODEL = "ViT-B-32"
DEFAULT_PRETRAINED = "laion2b_s34b_b79k"
"""ViT-B-32 trained on LAION-2B: ~150 M parameters, 224 px input, a good speed/quality choice."""

_OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
_OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


class ClipError(UserError):
    """CLIP weights are missing, cannot be downloaded or cannot be loaded (one line, with the fix)."""


@dataclass
class Clip:
    """A frozen CLIP model ready to score images against text.

    Attributes:
        model: the open_clip model, in eval mode, parameters frozen, on ``device``.
        tokenizer: open_clip tokenizer of the model (text -> token ids).
        image_size: (height, width) the image tower takes.
        mean, std: (1, 3, 1, 1) normalisation of [0, 1] RGB images, on ``device``.
        description: where the weights came from, for the style's metadata.
        device: where the model lives.
    """

    model: torch.nn.Module
    tokenizer: object
    image_size: tuple[int, int]
    mean: torch.Tensor
    std: torch.Tensor
    description: str
    device: torch.device

    @classmethod
    def wrap(cls, model: torch.nn.Module, tokenizer, description: str, device: torch.device) -> "Clip":
        """Freeze ``model``, move it to ``device`` and read its input size and normalisation."""
        model = model.to(device).eval()
        for parameter in model.parameters():
            parameter.requires_grad_(False)
        visual = model.visual
        size = getattr(visual, "image_size", 224)
        size = (int(size), int(size)) if isinstance(size, int) else (int(size[0]), int(size[1]))
        preprocess = getattr(visual, "preprocess_cfg", None) or {}
        mean = preprocess.get("mean") or getattr(visual, "image_mean", None) or _OPENAI_MEAN
        std = preprocess.get("std") or getattr(visual, "image_std", None) or _OPENAI_STD
        as_tensor = lambda values: torch.tensor(values, dtype=torch.float32, device=device).reshape(1, 3, 1, 1)  # noqa: E731
        return cls(model, tokenizer, size, as_tensor(mean), as_tensor(std), description, device)

    def encode_images(self, images: torch.Tensor) -> torch.Tensor:
        """Unit-length embeddings (B, D) of RGB images (B, 3, H, W) in [0, 1] at ``image_size``."""
        embeddings = self.model.encode_image((images - self.mean) / self.std)
        return torch.nn.functional.normalize(embeddings.float(), dim=-1)

    @torch.no_grad()
    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        """Unit-length embeddings (len(texts), D) of texts."""
        tokens = self.tokenizer(list(texts)).to(self.device)
        return torch.nn.functional.normalize(self.model.encode_text(tokens).float(), dim=-1)


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return (text[0] if text else type(error).__name__)[:300]


def _hub_file(cfg: dict) -> tuple[str, str] | None:
    """(repository id, file name) of a pretrained tag's weights on the Hugging Face hub."""
    hub = cfg.get("hf_hub") or ""
    if not hub:
        return None
    if hub.endswith("/"):  # a repository id alone: open_clip's default file name
        return hub.rstrip("/"), "open_clip_pytorch_model.bin"
    repo_id, filename = os.path.split(hub)
    return repo_id, filename


def weights_address(model_name: str, pretrained: str) -> str:
    """Where a pretrained tag's weights are downloaded from (a URL), or '' if unknown."""
    import open_clip

    cfg = open_clip.get_pretrained_cfg(model_name, pretrained) or {}
    hub = _hub_file(cfg)
    if hub:
        return f"https://huggingface.co/{hub[0]}/resolve/main/{hub[1]}"
    return cfg.get("url", "")


def _cached_weights(cfg: dict, cache_dir: Path | None) -> str | None:
    """The already-downloaded weights file of a pretrained tag in ``cache_dir``, or None."""
    if cache_dir is None:
        return None
    hub = _hub_file(cfg)
    if hub:
        try:
            from huggingface_hub import try_to_load_from_cache
        except ImportError:
            return None
        repo_id, filename = hub
        names = [filename]
        if filename.endswith((".bin", ".pth")):
            names.insert(0, filename[:-4] + ".safetensors")
        for name in names:
            found = try_to_load_from_cache(repo_id, name, cache_dir=str(cache_dir))
            if isinstance(found, str) and os.path.isfile(found):
                return found
        return None
    url = cfg.get("url", "")
    if url:
        candidate = cache_dir / os.path.basename(url)
        return str(candidate) if candidate.is_file() else None
    return None


def _create(open_clip, model_name: str, device: torch.device, **kwargs):
    return open_clip.create_model(model_name, device=device, weights_only=True, **kwargs)


def load_clip(
    model_name: str = DEFAULT_MODEL,
    pretrained: str | None = DEFAULT_PRETRAINED,
    checkpoint: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    device: torch.device | str = "cpu",
    allow_download: bool = True,
) -> Clip:
    """Load a frozen CLIP model; see the module docstring for where the weights come from.

    Raises ``ClipError`` (a ``UserError``) with one line saying what to do when the weights
    are missing, cannot be downloaded or do not fit the model.
    """
    try:
        import open_clip
    except ImportError:
        raise ClipError("Training needs open_clip: install the training pack in the extension's preferences") from None
    device = torch.device(device)
    cache = Path(cache_dir) if cache_dir else None

    if checkpoint:
        path = Path(checkpoint).expanduser()
        if not path.exists():
            raise ClipError(f"CLIP checkpoint not found: {path}")
        try:
            if path.is_dir():
                identifier = f"local-dir:{path}"
                model = _create(open_clip, identifier, device)
                tokenizer = open_clip.get_tokenizer(identifier)
                description = f"{path.name} (local folder)"
            else:
                model = _create(open_clip, model_name, device, pretrained=str(path))
                tokenizer = open_clip.get_tokenizer(model_name)
                description = f"{model_name} ({path.name})"
        except Exception as error:  # open_clip raises many types; all mean "this file does not fit"
            raise ClipError(
                f"Could not load the CLIP checkpoint {path} as {'an open_clip folder' if path.is_dir() else model_name}: "
                f"{_first_line(error)}"
            ) from None
        return Clip.wrap(model, tokenizer, description, device)

    if model_name not in open_clip.list_models():
        raise ClipError(f"Unknown CLIP model {model_name!r}: use an open_clip model name such as {DEFAULT_MODEL!r}")
    if not pretrained:
        raise ClipError(f"No CLIP weights given for {model_name}: set a pretrained tag or a local checkpoint file")
    cfg = open_clip.get_pretrained_cfg(model_name, pretrained)
    if not cfg:
        tags = ", ".join(open_clip.list_pretrained_tags_by_model(model_name)[:6])
        raise ClipError(f"Unknown pretrained tag {pretrained!r} for {model_name} (known: {tags})")
    description = f"{model_name} ({pretrained})"
    address = weights_address(model_name, pretrained)
    fetch_hint = (f"download {address} on a machine with network access and set the local CLIP checkpoint to that "
                  f"file (model {model_name})")
    tokenizer = open_clip.get_tokenizer(model_name)
    cached = _cached_weights(cfg, cache)
    if cached is not None:
        # Load the cached file directly: no network round trip, with the tag's own settings.
        overrides = {key: cfg[key] for key in ("mean", "std") if key in cfg}
        try:
            model = _create(open_clip, model_name, device, pretrained=cached,
                            force_quick_gelu=bool(cfg.get("quick_gelu", False)),
                            force_preprocess_cfg=overrides or None)
        except Exception as error:
            raise ClipError(f"The cached CLIP weights {cached} could not be loaded ({_first_line(error)}): "
                            f"delete the file to download it again, or {fetch_hint}") from None
        return Clip.wrap(model, tokenizer, description, device)
    if not allow_download:
        raise ClipError(f"CLIP weights {description} are not downloaded yet and online access is off: "
                        f"allow online access, or {fetch_hint}")
    try:
        model = _create(open_clip, model_name, device, pretrained=pretrained,
                        cache_dir=str(cache) if cache else None)
    except Exception as error:
        raise ClipError(f"Could not download CLIP weights {description} (offline?): {fetch_hint}. "
                        f"[{_first_line(error)}]") from None
    return Clip.wrap(model, tokenizer, description, device)
