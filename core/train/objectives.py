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


def cosine_terms(image_embeddings: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cosine similarity of unit image embeddings (B, D) to unit targets (T, D), per image (B,)."""
    return (image_embeddings @ targets.T).mean(dim=1)
