"""Small images made big enough to see."""

from __future__ import annotations

import numpy as np


def enlarge(image: np.ndarray, factor: int) -> np.ndarray:
    """Returns the image with each pixel repeated into a `factor` x `factor` block
    (sharp pixels, where a browser's scaling would blur them); the dtype is kept."""
    return image.repeat(factor, axis=0).repeat(factor, axis=1)
