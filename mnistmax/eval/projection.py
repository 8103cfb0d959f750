"""2-D projections of embeddings and latents for scatter plots."""

from __future__ import annotations

import numpy as np


def pca_2d(z: np.ndarray) -> np.ndarray:
    """Projection on the first two principal components, each scaled to unit variance."""
    centred = z - z.mean(0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    points = centred @ vt[:2].T
    return points / points.std(0).clip(min=1e-8)
