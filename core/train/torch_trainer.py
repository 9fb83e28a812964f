"""One training run of a style in torch: the CPPN, its batch renders and one Adam step.

Import only where torch is wanted (``core.train`` imports it when a training starts).
``core.train.train_style`` drives a ``Trainer`` step by step; the benchmark times it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..render import cppn, mapping
from . import objectives
from ..render.cppn_torch import TorchCPPN

HELD_OUT_LATENTS = 16
HELD_OUT_SEED = 7_654_321
"""Seed of the held-out latents that score a style (the same for every run, never trained on)."""
PALETTE_SAMPLES = 2048
"""Pixels per image the palette loss compares with the palette each step."""
PALETTE_DIRECTIONS = 16
"""Random projections of the palette loss per step."""
NOISE_STD = 0.02
"""Pixel noise added to the CLIP views only (an augmentation; the palette sees clean colours)."""
PREVIEW_SIZE = (160, 90)


@dataclass
class StepResult:
    """What one step measured: the total loss and the batch's CLIP score (None without CLIP)."""

    loss: float
    score: float | None


@dataclass
class Targets:
    """Unit CLIP embeddings (or None) and the palette, on the training device.

    Attributes:
        prompts: (P, D) embeddings of the prompts, pulled towards.
        negative: (1, D) embedding of the negative prompt, pushed away from.
        reference: (1, D) mean embedding of the reference images, pulled towards.
        palette: (K, 3) colours in [0, 1]; palette_shares: (K,) summing to 1.
    """

    prompts: torch.Tensor | None = None
    negative: torch.Tensor | None = None
    reference: torch.Tensor | None = None
    palette: torch.Tensor | None = None
    palette_shares: torch.Tensor | None = None


class Trainer:
    """The state of one training run.

    Args:
        architecture: the CPPN architecture (``cppn.weight_shapes`` checks it).
        weights: starting weights in style format, or None for ``cppn.random_weights(seed)``.
        targets: what to train towards (see ``Targets``).
        weights_by_term: the weight of each objective term, keys ``prompt``, ``negative``,
            ``reference``, ``palette``.
        clip: a ``clip_model.Clip`` (needed when a CLIP term has weight > 0), or None.
        batch: images (random latents and cutouts) per step.
        render_size: side in pixels each cutout is rendered at; it is resized to the CLIP
            input size when that differs.
        learning_rate: Adam's step size.
        seed: seeds the start weights and every random draw: same seed, same run on the CPU.
        device: where to compute.
        total_steps: the planned number of steps: the learning rate then follows a cosine
            from ``learning_rate`` down to a tenth of it at the last step (None: constant).
    """

    def __init__(self, architecture: dict, weights: dict | None, targets: Targets, weights_by_term: dict,
                 clip, batch: int, render_size: int, learning_rate: float, seed: int, device: torch.device,
                 total_steps: int | None = None):
        self.device = torch.device(device)
        self.clip = clip
        self.targets = targets
        self.weights_by_term = dict(weights_by_term)
        self.batch = int(batch)
        self.render_size = int(render_size)
        self.generator = torch.Generator().manual_seed(int(seed))
        self.cppn = TorchCPPN(architecture, weights, seed=seed).to(self.device)
        self.optimizer = torch.optim.Adam(self.cppn.parameters(), lr=learning_rate)
        self.total_steps = total_steps
        self.steps_done = 0
        self.base_learning_rate = float(learning_rate)
        self.uses_clip = clip is not None and any(
            self.weights_by_term.get(term, 0) > 0 and getattr(targets, target) is not None
            for term, target in (("prompt", "prompts"), ("negative", "negative"), ("reference", "reference")))
        self.uses_palette = targets.palette is not None and self.weights_by_term.get("palette", 0) > 0
        # Mixed precision on a GPU only: CUDA autocast for the CLIP pass (the CPPN stays fp32).
        self.autocast_dtype = None
        self.scaler = None
        if self.device.type == "cuda":
            self.autocast_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
            if self.autocast_dtype == torch.float16:
                self.scaler = torch.amp.GradScaler("cuda")
        held_out = torch.Generator().manual_seed(HELD_OUT_SEED)
        self.held_out_latents = objectives.sample_latents(HELD_OUT_LATENTS, self.cppn.latent_dim, held_out)
        self.preview_latent = mapping.first_latent(self.cppn.latent_dim)

    # --- rendering -----------------------------------------------------------------------

    def _render(self, coordinates: torch.Tensor, latents: torch.Tensor, size: int) -> torch.Tensor:
        """(B, 3, size, size) images of per-image coordinates (B, P, n) and latents (B, L)."""
        images = [self.cppn(coordinates[index], latents[index:index + 1]) for index in range(latents.shape[0])]
        return torch.cat(images).reshape(-1, size, size, 3).permute(0, 3, 1, 2)

    def _clip_input(self, images: torch.Tensor) -> torch.Tensor:
        height, width = self.clip.image_size
        if images.shape[-2:] != (height, width):
            images = torch.nn.functional.interpolate(images, size=(height, width), mode="bilinear",
                                                     align_corners=False, antialias=images.shape[-1] > width)
        return images

    def _encode(self, images: torch.Tensor) -> torch.Tensor:
        if self.autocast_dtype is None:
            return self.clip.encode_images(images)
        with torch.autocast(device_type=self.device.type, dtype=self.autocast_dtype):
            return self.clip.encode_images(images)

    def _clip_terms(self, embeddings: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(loss, score): the weighted CLIP loss and the mean similarity to the positive targets."""
        loss = embeddings.new_zeros(())
        positives = []
        if self.targets.prompts is not None:
            similarity = objectives.cosine_terms(embeddings, self.targets.prompts).mean()
            loss = loss - self.weights_by_term.get("prompt", 0) * similarity
            positives.append(similarity)
        if self.targets.reference is not None:
            similarity = objectives.cosine_terms(embeddings, self.targets.reference).mean()
            loss = loss - self.weights_by_term.get("reference", 0) * similarity
            positives.append(similarity)
        if self.targets.negative is not None:
            loss = loss + self.weights_by_term.get("negative", 0) * objectives.cosine_terms(embeddings, self.targets.negative).mean()
        score = torch.stack(positives).mean() if positives else embeddings.new_zeros(())
        return loss, score

    # --- training ------------------------------------------------------------------------

    def step(self) -> StepResult:
        """One Adam step on a fresh batch of random latents and cutouts."""
        size = self.render_size
        latents = objectives.sample_latents(self.batch, self.cppn.latent_dim, self.generator)
        coordinates = objectives.cutout_coordinates(self.batch, size, self.cppn.inputs, self.generator,
                                                    fourier=getattr(self.cppn, "fourier", ()))
        noise = torch.randn(self.batch, 3, size, size, generator=self.generator) * NOISE_STD if self.uses_clip else None
        palette_pick = palette_directions = None
        if self.uses_palette:
            palette_pick = torch.randint(0, size * size, (min(PALETTE_SAMPLES, size * size),), generator=self.generator)
            palette_directions = objectives.unit_directions(PALETTE_DIRECTIONS, self.generator)

        images = self._render(coordinates.to(self.device), latents.to(self.device), size)
        loss = images.new_zeros(())
        score = None
        if self.uses_clip:
            embeddings = self._encode(self._clip_input(images + noise.to(self.device)))
            clip_loss, clip_score = self._clip_terms(embeddings)
            loss = loss + clip_loss
            score = clip_score
        if self.uses_palette:
            pixels = images.flatten(2).transpose(1, 2)[:, palette_pick.to(self.device)]
            distance = objectives.palette_distance(pixels, self.targets.palette, self.targets.palette_shares,
                                                   palette_directions, squared=True).mean()
            loss = loss + self.weights_by_term["palette"] * distance

        if self.total_steps:
            progress = min(1.0, self.steps_done / max(1, self.total_steps - 1))
            for group in self.optimizer.param_groups:
                group["lr"] = self.base_learning_rate * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * progress)))
        self.steps_done += 1
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            loss.backward()
            self.optimizer.step()
        return StepResult(float(loss.detach()), None if score is None else float(score.detach()))

    # --- evaluation ----------------------------------------------------------------------

    @torch.no_grad()
    def _held_out_images(self, size: int) -> torch.Tensor:
        """(N, 3, size, size): the central square of each held-out latent's frame (zoom 1)."""
        grid = self.cppn.coordinates(size, size)
        latents = self.held_out_latents.to(self.device)
        coordinates = grid.unsqueeze(0).expand(latents.shape[0], -1, -1)
        return self._render(coordinates, latents, size)

    @torch.no_grad()
    def held_out_score(self) -> float | None:
        """Mean cosine similarity of the held-out frames to the positive targets (None without CLIP)."""
        if not self.uses_clip:
            return None
        images = self._held_out_images(self.clip.image_size[0])
        embeddings = torch.cat([self._encode(self._clip_input(chunk)) for chunk in images.split(8)])
        return float(self._clip_terms(embeddings.float())[1])

    @torch.no_grad()
    def held_out_palette_distance(self, size: int = 64) -> float | None:
        """Mean sliced W2 distance of the held-out frames' colours to the palette (None without one)."""
        if self.targets.palette is None:
            return None
        pixels = self._held_out_images(size).flatten(2).transpose(1, 2)
        distances = objectives.palette_distance(pixels, self.targets.palette, self.targets.palette_shares,
                                                objectives.evaluation_directions())
        return float(distances.mean())

    def export_weights(self) -> dict[str, np.ndarray]:
        return self.cppn.export_weights()

    def preview(self, width: int = PREVIEW_SIZE[0], height: int = PREVIEW_SIZE[1]) -> np.ndarray:
        """(height, width, 3) uint8: the first frame a bake with seed 0 starts from."""
        rgb = cppn.CPPN(self.cppn.architecture, self.export_weights()).render(self.preview_latent, width, height)
        return (np.clip(rgb, 0.0, 1.0) * 255.0).round().astype(np.uint8)
