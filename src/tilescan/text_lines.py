"""Glyphs in a row: stroke components of letter size and shape that line up as lettering does.

Film lettering ("MAY 25", "R CC", film numbers) is several components of about one size, side by side along one
line; dust is specks too small to be glyphs, a film edge or the breast boundary one long component, and tissue
texture no row of like-sized shapes. The grouping is the character-to-text-line step of scene-text detection:
two glyph candidates pair when their sizes differ by at most GLYPH_SIZE_RATIO and their centres lie within
GLYPH_GAP of the larger one's size; a group of three or more counts as a line only when its centres lie along
a line. Whatever the angle, so rotated and mirrored text counts too. Measured on three sets, docs/experiments.md
("Session 19"): a line of two or more glyphs marks 51-81% of the lettering tiles and at most 1% of the others.
"""
from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

GLYPH_MIN_PX = 5          # a smaller component is a speck, whatever the tile size
GLYPH_SIZE_RATIO = 1.8    # neighbouring glyphs of one line: the larger at most this many times the smaller
GLYPH_GAP = 1.6           # centre distance at most this many times the larger glyph's size
LINE_STRAIGHTNESS = 0.35  # a group of 3+ lies along a line: spread across it <= this share of a glyph's size


def glyph_candidates(boxes: list[tuple[slice, slice]], areas: np.ndarray, side: int) -> tuple[np.ndarray, np.ndarray]:
    """(centres, sizes) of the components shaped like glyphs, from their bounding boxes (ndimage.find_objects of
    the labelled strokes) and pixel counts: largest extent between max(GLYPH_MIN_PX, side / 40) and side / 3, at
    least 2 px across, filling 8-85% of the box (a letter is neither a filled blob nor a sparse scatter)."""
    smallest, largest = max(GLYPH_MIN_PX, side / 40), side / 3
    centres, sizes = [], []
    for area, (rows, cols) in zip(areas, boxes):
        height, width = rows.stop - rows.start, cols.stop - cols.start
        size = max(height, width)
        if not smallest <= size <= largest or min(height, width) < 2 or not 0.08 <= area / (height * width) <= 0.85:
            continue
        centres.append(((rows.start + rows.stop) / 2, (cols.start + cols.stop) / 2))
        sizes.append(size)
    return np.asarray(centres, np.float64).reshape(-1, 2), np.asarray(sizes, np.float64)


def _is_line(centres: np.ndarray, sizes: np.ndarray) -> bool:
    if len(sizes) < 3:
        return True
    offsets = centres - centres.mean(axis=0)
    across = np.linalg.eigvalsh(offsets.T @ offsets / len(sizes))[0]
    return np.sqrt(max(across, 0.0)) <= LINE_STRAIGHTNESS * np.median(sizes)


def text_lines(centres: np.ndarray, sizes: np.ndarray) -> tuple[int, int]:
    """(glyphs in the longest line, lines of two or more glyphs) among glyph candidates (glyph_candidates)."""
    n = len(sizes)
    if n < 2:
        return 0, 0
    pairs = np.array(sorted(cKDTree(centres).query_pairs(GLYPH_GAP * sizes.max())), dtype=np.int64).reshape(-1, 2)
    first, second = pairs[:, 0], pairs[:, 1]
    larger, smaller = np.maximum(sizes[first], sizes[second]), np.minimum(sizes[first], sizes[second])
    distance = np.hypot(*(centres[first] - centres[second]).T)
    near = (larger <= GLYPH_SIZE_RATIO * smaller) & (distance <= GLYPH_GAP * larger) & (distance >= 0.3 * smaller)
    graph = coo_matrix((np.ones(int(near.sum())), (first[near], second[near])), shape=(n, n))
    _, group = connected_components(graph, directed=False)
    longest, lines = 0, 0
    for members in (np.flatnonzero(group == g) for g in np.unique(group)):
        if len(members) >= 2 and _is_line(centres[members], sizes[members]):
            longest, lines = max(longest, len(members)), lines + 1
    return longest, lines
