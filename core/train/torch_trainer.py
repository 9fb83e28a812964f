"""One training run of a style in torch: the CPPN, its batch renders and one Adam step.

Import only where torch is wanted (``core.train`` imports it when a training starts).
``core.train.train_style`` drives a ``Trainer`` step by step; the benchmark times it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..render import cppn, mapping
from . import objectives, sampling
from .numpy_trainer import SMOOTH_STEP
from ..render.cppn_torch import TorchCPPN

PALETTE_SAMPLES = 2048
"""Pixels per image the palette loss compares with the palette each step."""
PALETTE_DIRECTIONS = 16
"""Random projections of the palette loss per step."""
AVERAGED_SHARE = 0.3
"""Share of the CLIP terms scored on a latent's averaged view embedding; the rest is the
mean over its single views (0.3 / 0.7 as in deep-daze): the average rewards a look that
holds across views, the single views keep every cutout on-prompt."""
SMOOTH_POINTS = 1024
"""Pixels of each latent's first view compared with a nearby latent by the smoothness term."""
PREVIEW_SIZE = (160, 90)
StepResult = sampling.StepResult


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
        batch: random latents per step.
        views: cutouts per latent (``sampling.TRAINING_VIEWS``: crop scale, position,
            rotation, mirror, perspective; then colour jitter and pixel noise for CLIP).
        render_size: side in pixels each cutout is rendered at; it is resized to the CLIP
            input size when that differs.
        smoothness: weight of the nearby-latent image change (0 = off; see ``step``).
        learning_rate: Adam's step size.
        seed: seeds the start weights and every random draw: same seed, same run on the CPU.
        device: where to compute.
        total_steps: the planned number of steps: the learning rate then follows a cosine
            from ``learning_rate`` down to a tenth of it at the last step (None: constant).
    """

    def __init__(self, architecture: dict, weights: dict | None, targets: Targets, weights_by_term: dict,
                 clip, batch: int, render_size: int, learning_rate: float, seed: int, device: torch.device,
                 total_steps: int | None = None, views: int = 1, smoothness: float = 0.0):
        self.device = torch.device(device)
        self.clip = clip
        self.targets = targets
        self.weights_by_term = dict(weights_by_term)
        self.batch, self.views = int(batch), int(views)
        self.render_size = int(render_size)
        self.smoothness = float(smoothness)
        self.rng = np.random.default_rng(int(seed))
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
        self.held_out_latents = torch.from_numpy(sampling.held_out_latents(self.cppn.latent_dim))
        self.preview_latent = mapping.first_latent(self.cppn.latent_dim)

    # --- rendering -----------------------------------------------------------------------

    def _render(self, coordinates: torch.Tensor, latents: torch.Tensor, size: int) -> torch.Tensor:
        """(B, 3, size, size) images of per-image coordinates (B, P, n) and latents (B, L)."""
        images = [self.cppn(coordinates[index], latents[index:index + 1]) for index in range(latents.shape[0])]
        return torch.cat(images).reshape(-1, size, size, 3).permute(0, 3, 1, 2)

    def _view_images(self, latents: np.ndarray, views: int, size: int, ranges: sampling.ViewRanges,
                     rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Render ``views`` random cutouts of each latent's frame: (images (B*V, 3, s, s) as the
        CPPN draws them, the same with colour jitter and pixel noise for CLIP, coordinates)."""
        count = latents.shape[0] * views
        windows = sampling.sample_windows(rng, count, ranges)
        coordinates = torch.from_numpy(sampling.window_features(windows, *sampling.grid_points(size), self.cppn.inputs,
                                                                 self.cppn.fourier)).to(self.device)
        latent_rows = torch.from_numpy(np.repeat(latents, views, axis=0)).to(self.device)
        images = self._render(coordinates, latent_rows, size)
        jitter = torch.from_numpy(sampling.colour_jitter(rng, count, ranges)).to(self.device)[:, :, None, None]
        noise = torch.from_numpy((rng.standard_normal(images.shape) * ranges.noise).astype(np.float32)).to(self.device)
        grey = images.mean(dim=1, keepdim=True)
        coloured = grey + jitter[:, 2:3] * (images - grey)
        mean = coloured.mean(dim=(1, 2, 3), keepdim=True)
        seen = mean + jitter[:, 1:2] * (coloured - mean) + jitter[:, 0:1] + noise
        return images, seen, coordinates

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
        """(loss, score) of unit embeddings (B, V, D), V views per latent: the weighted CLIP loss
        and the similarity to the positive targets, each term ``AVERAGED_SHARE`` on the
        views' mean embedding and the rest on the single views."""
        averaged = torch.nn.functional.normalize(embeddings.mean(dim=1), dim=-1)
        singles = embeddings.reshape(-1, embeddings.shape[-1])

        def similarity(targets: torch.Tensor) -> torch.Tensor:
            if embeddings.shape[1] == 1:
                return objectives.cosine_terms(singles, targets).mean()
            return (AVERAGED_SHARE * objectives.cosine_terms(averaged, targets).mean()
                    + (1 - AVERAGED_SHARE) * objectives.cosine_terms(singles, targets).mean())

        loss = embeddings.new_zeros(())
        positives = []
        for term, targets, sign in (("prompt", self.targets.prompts, -1), ("reference", self.targets.reference, -1),
                                    ("negative", self.targets.negative, 1)):
            if targets is None:
                continue
            value = similarity(targets)
            loss = loss + sign * self.weights_by_term.get(term, 0) * value
            if sign < 0:
                positives.append(value)
        score = torch.stack(positives).mean() if positives else embeddings.new_zeros(())
        return loss, score

    def _smoothness_term(self, latents: np.ndarray, coordinates: torch.Tensor) -> torch.Tensor:
        """Mean squared colour change of each latent's first view when the latent moves by
        ``SMOOTH_STEP`` (random direction), per unit of squared latent move."""
        first_views = coordinates[::self.views]
        stride = max(1, first_views.shape[1] // SMOOTH_POINTS)
        points = first_views[:, ::stride]
        moved = latents + (self.rng.standard_normal(latents.shape) * SMOOTH_STEP).astype(np.float32)
        here = torch.cat([self.cppn(points[index], torch.from_numpy(latents[index:index + 1]).to(self.device))
                          for index in range(len(latents))])
        there = torch.cat([self.cppn(points[index], torch.from_numpy(moved[index:index + 1]).to(self.device))
                           for index in range(len(latents))])
        return ((there - here) ** 2).mean() / SMOOTH_STEP ** 2

    # --- training ------------------------------------------------------------------------

    def step(self) -> StepResult:
        """One Adam step on a fresh batch of random latents, ``views`` cutouts each."""
        size = self.render_size
        latents = sampling.sample_latents(self.rng, self.batch, self.cppn.latent_dim)
        images, seen, coordinates = self._view_images(latents, self.views, size, sampling.TRAINING_VIEWS, self.rng)
        loss = images.new_zeros(())
        score = None
        if self.uses_clip:
            embeddings = self._encode(self._clip_input(seen)).reshape(self.batch, self.views, -1)
            clip_loss, score = self._clip_terms(embeddings)
            loss = loss + clip_loss
        if self.uses_palette:
            pick = torch.from_numpy(self.rng.integers(0, size * size, min(PALETTE_SAMPLES, size * size)))
            directions = torch.from_numpy(sampling.unit_directions(self.rng, PALETTE_DIRECTIONS))
            pixels = images.flatten(2).transpose(1, 2)[:, pick.to(self.device)]
            distance = objectives.palette_distance(pixels, self.targets.palette, self.targets.palette_shares,
                                                   directions, squared=True).mean()
            loss = loss + self.weights_by_term["palette"] * distance
        if self.smoothness > 0:
            loss = loss + self.smoothness * self._smoothness_term(latents, coordinates)

        for group in self.optimizer.param_groups:
            group["lr"] = sampling.learning_rate_at(self.steps_done, self.total_steps, self.base_learning_rate)
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
        return float(self._clip_terms(embeddings.float()[:, None])[1])

    @torch.no_grad()
    def unseen_view_score(self, views: int = 4, size: int | None = None) -> float | None:
        """Mean similarity to the positive targets of ``views`` cutouts of each held-out latent
        drawn from ``sampling.UNSEEN_VIEWS`` (wider than training's, a fixed seed): does the
        style hold up beyond the views it was fitted to? None without CLIP."""
        if not self.uses_clip:
            return None
        size = size or self.render_size
        rng = np.random.default_rng(sampling.HELD_OUT_SEED + 1)
        latents = self.held_out_latents.numpy()
        _images, seen, _coordinates = self._view_images(latents, views, size, sampling.UNSEEN_VIEWS, rng)
        embeddings = torch.cat([self._encode(self._clip_input(chunk)) for chunk in seen.split(8)])
        return float(self._clip_terms(embeddings.float().reshape(len(latents), views, -1))[1])

    @torch.no_grad()
    def held_out_palette_distance(self, size: int = 64) -> float | None:
        """Mean sliced W2 distance of the held-out frames' colours to the palette (None without one)."""
        if self.targets.palette is None:
            return None
        pixels = self._held_out_images(size).flatten(2).transpose(1, 2)
        distances = objectives.palette_distance(pixels, self.targets.palette, self.targets.palette_shares,
                                                torch.from_numpy(sampling.evaluation_directions()))
        return float(distances.mean())

    def export_weights(self) -> dict[str, np.ndarray]:
        return self.cppn.export_weights()

    def preview(self, width: int = PREVIEW_SIZE[0], height: int = PREVIEW_SIZE[1]) -> np.ndarray:
        """(height, width, 3) uint8: the first frame a bake with seed 0 starts from."""
        rgb = cppn.CPPN(self.cppn.architecture, self.export_weights()).render(self.preview_latent, width, height)
        return (np.clip(rgb, 0.0, 1.0) * 255.0).round().astype(np.uint8)
