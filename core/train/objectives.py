"""What a style is trained towards, in torch: CLIP similarity terms and the palette distance.

Import only where torch is wanted (training): it imports torch at once.

The palette objective needs no CLIP: it is the sliced Wasserstein-2 distance between the
colour distribution of an image's pixels and the palette's (each colour with its share).
Both are projected onto unit directions in RGB space; in 1-D the optimal transport pairs
the sorted pixel values with the palette's quantiles, so the distance is the RMS gap
between them. Unlike "every pixel near some palette colour", it also asks for every
palette colour to be used in its share, so a trained style does not collapse to one flat colour.
"""

from __future__ import annotations

import torch

EVALUATION_DIRECTIONS = 64
"""Projections of the held-out palette metric (fixed, so scores compare across runs)."""


def unit_directions(count: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """(count, 3) unit vectors: the three colour axes and grey first, then random ones."""
    fixed = torch.tensor([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0], [1.0, 1.0, 1.0]])
    extra = torch.randn(max(0, count - len(fixed)), 3, generator=generator)
    directions = torch.cat([fixed, extra])[:count]
    return torch.nn.functional.normalize(directions, dim=1)


def evaluation_directions() -> torch.Tensor:
    """The fixed projections of ``palette_distance`` when it scores held-out frames."""
    return unit_directions(EVALUATION_DIRECTIONS, torch.Generator().manual_seed(20240607))


def palette_distance(pixels: torch.Tensor, palette: torch.Tensor, shares: torch.Tensor,
                     directions: torch.Tensor, squared: bool = False) -> torch.Tensor:
    """Sliced Wasserstein-2 distance of each image's colours to a palette, shape (B,).

    Args:
        pixels: (B, N, 3) colours in [0, 1] (all pixels of an image, or a random sample).
        palette: (K, 3) colours in [0, 1].
        shares: (K,) non-negative, summing to 1: each colour's share of the image.
        directions: (D, 3) unit projection directions.
        squared: return the squared distance (smoother gradients for training).

    0 means that along every direction the pixels are distributed exactly as the palette.
    """
    n_pixels = pixels.shape[1]
    device = pixels.device
    directions = directions.to(device=device, dtype=pixels.dtype)
    projected = torch.sort(directions @ pixels.transpose(1, 2), dim=2).values  # (B, D, N): sort along the last dim
    palette_projected = palette.to(device, pixels.dtype) @ directions.T  # (K, D)
    order = torch.argsort(palette_projected, dim=0)
    sorted_values = torch.gather(palette_projected, 0, order)  # (K, D)
    cumulative = torch.cumsum(shares.to(device, pixels.dtype)[order], dim=0)  # (K, D)
    quantiles = (torch.arange(n_pixels, device=device, dtype=pixels.dtype) + 0.5) / n_pixels
    index = torch.searchsorted(cumulative.T.contiguous(), quantiles.expand(cumulative.shape[1], -1).contiguous())
    index = index.clamp_(max=palette.shape[0] - 1)  # (D, N)
    target = torch.gather(sorted_values.T, 1, index)  # (D, N)
    squared_distance = ((projected - target.unsqueeze(0)) ** 2).mean(dim=(1, 2))
    return squared_distance if squared else squared_distance.sqrt()


def sample_latents(count: int, latent_dim: int, generator: torch.Generator) -> torch.Tensor:
    """(count, latent_dim) latents spread like those the music produces.

    ``core.mapping`` moves a latent along a path whose entries have variance ~1 and pulls it
    towards "hit" latents of standard deviation 1.5; each sample here is a standard normal
    vector scaled by a random factor from 0.5 to 1.6, covering both.
    """
    scale = 0.5 + 1.1 * torch.rand(count, 1, generator=generator)
    return torch.randn(count, latent_dim, generator=generator) * scale


FRAME_HALF_WIDTH = 16.0 / 9.0
"""Half-width of a 16:9 frame in CPPN units (the shorter side spans [-1, 1])."""


def cutout_coordinates(count: int, size: int, inputs: list[str], generator: torch.Generator,
                       fourier: list[float] | tuple = (), min_half_size: float = 0.4, max_half_size: float = 1.0,
                       max_rotation_rad: float = 0.3) -> torch.Tensor:
    """(count, size * size, n_features) CPPN coordinate features of random square cutouts of a frame.

    Each cutout is a square window of half-size ``min_half_size``..``max_half_size`` units,
    centred anywhere inside a 16:9 frame, rotated by up to ``max_rotation_rad`` and
    mirrored left-right half of the time, sampled at ``size`` x ``size`` pixel centres in
    row order (top row first, as ``cppn.pixel_coordinates``). Rendering a cutout directly
    at the render size is the crop-and-resize augmentation without resampling.
    """
    half = min_half_size + (max_half_size - min_half_size) * torch.rand(count, generator=generator)
    centre_x = (torch.rand(count, generator=generator) * 2 - 1) * (FRAME_HALF_WIDTH - half)
    centre_y = (torch.rand(count, generator=generator) * 2 - 1) * (1.0 - half).clamp(min=0)
    angle = (torch.rand(count, generator=generator) * 2 - 1) * max_rotation_rad
    mirror = torch.where(torch.rand(count, generator=generator) < 0.5, -1.0, 1.0)
    return window_coordinates(half, centre_x, centre_y, angle, mirror, size, inputs, fourier)


def window_coordinates(half: torch.Tensor, centre_x: torch.Tensor, centre_y: torch.Tensor, angle: torch.Tensor,
                       mirror: torch.Tensor, size: int, inputs: list[str], fourier: list[float] | tuple = ()) -> torch.Tensor:
    """(count, size * size, n_features) features of square windows, one per entry of the (count,) arguments.

    A window of half-size 1 at the centre, unrotated and unmirrored, gives exactly
    ``cppn.pixel_coordinates(inputs, size, size, fourier=fourier)``.
    """
    steps = (torch.arange(size, dtype=torch.float32) + 0.5) / size * 2 - 1
    v, u = torch.meshgrid(-steps, steps, indexing="ij")  # v grows upwards, rows from the top
    u, v = u.reshape(1, -1), v.reshape(1, -1)
    cos, sin = torch.cos(angle)[:, None], torch.sin(angle)[:, None]
    scaled_u = u * (half * mirror)[:, None]
    scaled_v = v * half[:, None]
    x = centre_x[:, None] + cos * scaled_u - sin * scaled_v
    y = centre_y[:, None] + sin * scaled_u + cos * scaled_v
    columns = [{"x": x, "y": y, "r": torch.sqrt(x * x + y * y)}[name] for name in inputs]
    for scale in fourier:
        for axis in (x, y):
            phase = (torch.pi * float(scale)) * axis
            columns += [torch.sin(phase), torch.cos(phase)]
    return torch.stack(columns, dim=2)


def cosine_terms(image_embeddings: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cosine similarity of unit image embeddings (B, D) to unit targets (T, D), per image (B,)."""
    return (image_embeddings @ targets.T).mean(dim=1)
