"""Image statistics of a tile at its native resolution: how much of it looks like burned-in lettering.

Generic measurements of bright, thin, high-contrast, many-oriented strokes and hard-edged bright regions
(what film labels are made of, whatever the font or word) next to plain intensity statistics. Scales are
relative to the tile side, so any tile size works.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.feature import canny, local_binary_pattern
from skimage.filters import sobel, threshold_otsu

LBP_POINTS = 8
FEATURE_NAMES = (
    ["mean", "std", "p99", "saturated_fraction", "bimodality",
     "stroke_fraction_high", "stroke_fraction_low", "stroke_mean", "stroke_components",
     "stroke_extent", "stroke_concentration",
     "gradient_p90", "gradient_p99", "strong_gradient_fraction", "edge_density", "orientation_entropy",
     "bright_edge_fraction", "fine_detail_ratio"]
    + [f"lbp_{i}" for i in range(LBP_POINTS + 2)]
)


def _entropy(weights: np.ndarray) -> float:
    total = weights.sum()
    if total <= 0:
        return 0.0
    p = weights[weights > 0] / total
    return float(-(p * np.log(p)).sum() / np.log(len(weights)))


def tile_features(tile: np.ndarray) -> np.ndarray:
    """A float32 vector of FEATURE_NAMES for one 2-D uint8 tile."""
    image = tile.astype(np.float32) / 255.0
    side = min(image.shape)
    stroke_radius = max(1, round(side / 40))          # strokes narrower than ~5% of the tile
    flat = image.ravel()

    otsu = threshold_otsu(image) if flat.min() < flat.max() else float(flat[0])
    low, high = flat[flat <= otsu], flat[flat > otsu]
    between = low.size * high.size / flat.size ** 2 * (high.mean() - low.mean()) ** 2 if low.size and high.size else 0.0
    bimodality = between / flat.var() if flat.var() > 0 else 0.0

    tophat = ndimage.white_tophat(image, size=2 * stroke_radius + 1)  # square: separable, fast
    strokes = tophat > 0.25
    labels, n_components = ndimage.label(strokes)
    sizes = np.bincount(labels.ravel())[1:] if n_components else np.zeros(0)
    stroke_like = int(np.sum((sizes >= stroke_radius ** 2) & (sizes <= 200 * stroke_radius ** 2)))
    # lettering: tall glyphs grouped into words; dust: small specks scattered over the tile
    extents = [max(sl[0].stop - sl[0].start, sl[1].stop - sl[1].start) for sl in ndimage.find_objects(labels)]
    stroke_extent = max(extents, default=0) / side
    window = max(3, side // 3)
    concentration = (ndimage.uniform_filter(strokes.astype(np.float32), window).max() * window ** 2
                     / strokes.sum()) if strokes.any() else 0.0

    gradient = sobel(image)
    strong = gradient > 0.15
    gy, gx = ndimage.sobel(image, axis=0), ndimage.sobel(image, axis=1)
    angles = np.mod(np.arctan2(gy, gx), np.pi)[strong]
    orientation_hist = np.histogram(angles, bins=8, range=(0, np.pi), weights=gradient[strong])[0]
    edges = canny(image, sigma=max(1.0, side / 200))

    fine = np.abs(ndimage.gaussian_laplace(image, 1.0)).mean()
    coarse = np.abs(ndimage.gaussian_laplace(image, 4.0)).mean()
    lbp = local_binary_pattern((image * 255).astype(np.uint8), LBP_POINTS, 1, method="uniform")
    lbp_hist = np.bincount(lbp.astype(int).ravel(), minlength=LBP_POINTS + 2)[: LBP_POINTS + 2] / lbp.size

    values = [flat.mean(), flat.std(), np.percentile(flat, 99), np.mean(flat > 0.9), bimodality,
              strokes.mean(), np.mean(tophat > 0.12), tophat.mean(), stroke_like / (side / 100) ** 2,
              stroke_extent, min(concentration, 1.0),
              np.percentile(gradient, 90), np.percentile(gradient, 99), strong.mean(), edges.mean(),
              _entropy(orientation_hist), np.mean(edges & (image > otsu)), fine / (coarse + 1e-6),
              *lbp_hist]
    return np.asarray(values, dtype=np.float32)


def features_of_item(item: tuple[object, np.ndarray]) -> np.ndarray:
    """tile_features of a (ref, tile) pair, for chunked_map."""
    return tile_features(item[1])
