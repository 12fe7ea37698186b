"""Burned-in film lettering for synthetic tiles: fonts, words, angles, and drawing text or label strips.

Two lettering styles exist so that a detector can be tested on lettering it never saw: "default" (DejaVu
fonts bundled with the pinned matplotlib, so identical on every machine) and "holdout" (Liberation fonts,
other words, other angles). The detector's compositor (tilescan.detect) draws its own training lettering with
other fonts and words; nothing here may be shared with it, or a check of the detector on this set would be
a check of the compositor against itself.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps

from tilescan.errors import TilescanError, require

STYLES = ("default", "holdout")
LIBERATION_DIR = Path("/usr/share/fonts/truetype/liberation")
DEFAULT_FONT_FILES = ("DejaVuSans-Bold.ttf", "DejaVuSans.ttf", "DejaVuSansMono-Bold.ttf",
                      "DejaVuSerif-Bold.ttf", "DejaVuSans-BoldOblique.ttf")
HOLDOUT_FONT_FILES = ("LiberationSans-Bold.ttf", "LiberationSerif-Bold.ttf", "LiberationMono-Bold.ttf",
                      "LiberationSansNarrow-Bold.ttf", "LiberationSans-Regular.ttf")
DEFAULT_WORDS = ("MAY 25", "JAN 03", "MAMMOGRAPHY", "LEFT", "MLO", "RCC", "LCC", "RMLO", "1996",
                 "03-11-97", "NO 2187", "A 36")
HOLDOUT_WORDS = ("OCT 14", "SCREENING", "RIGHT", "ML", "LMLO", "ID 4471", "SEP 30", "DIAGNOSTIC",
                 "XCCL", "1999", "11/08/98", "B 52")
DEFAULT_SINGLES = ("R", "L", "CC")
HOLDOUT_SINGLES = ("X", "S", "AT")
# film and cassette numbers, small on the black margin
DEFAULT_DIGITS = ("3", "7", "12", "25", "0417", "96", "1 4")
HOLDOUT_DIGITS = ("5", "8", "40", "61", "2093", "88", "6 9")
TEXT_KINDS = ("text_rotated", "text_cut", "text_over_tissue", "text_low_contrast", "single_letter", "faint_text",
              "mirrored_text")


@dataclass(frozen=True)
class LetteringStyle:
    """Everything that differs between the default and the held-out lettering."""

    fonts: tuple[Path, ...]
    words: tuple[str, ...]
    singles: tuple[str, ...]
    digits: tuple[str, ...]
    # default: any angle in [-90, 90]; holdout: near 0/90/180/270, so upside-down text is unseen in training
    axis_aligned: bool


def lettering_style(style: str) -> LetteringStyle:
    """Return the named lettering style; a missing font file is an error that says how to install it."""
    require(style in STYLES, f"synthesize.style must be one of {', '.join(STYLES)}, got {style!r}")
    if style == "default":
        font_dir = Path(os.path.join(matplotlib.get_data_path(), "fonts/ttf"))
        fonts = tuple(font_dir / name for name in DEFAULT_FONT_FILES)
        hint = "reinstall the pinned matplotlib"
        words, singles, digits, axis_aligned = DEFAULT_WORDS, DEFAULT_SINGLES, DEFAULT_DIGITS, False
    else:
        fonts = tuple(LIBERATION_DIR / name for name in HOLDOUT_FONT_FILES)
        hint = "apt-get install fonts-liberation"
        words, singles, digits, axis_aligned = HOLDOUT_WORDS, HOLDOUT_SINGLES, HOLDOUT_DIGITS, True
    for font in fonts:
        if not font.is_file():
            raise TilescanError(f"synthesize.style={style}: font file {font} not found ({hint})")
    return LetteringStyle(fonts, words, singles, digits, axis_aligned)


def _angle(rng: np.random.Generator, lettering: LetteringStyle) -> float:
    if lettering.axis_aligned:
        return float(90 * rng.integers(0, 4) + rng.normal(0, 4))
    return float(rng.uniform(-90, 90))


def text_mask(text: str, font: Path, size_px: int, angle: float, stroke: int, mirror: bool = False) -> np.ndarray:
    """Coverage (0..1) of the text rendered at size_px, mirrored left-right if asked (film seen from its
    back), then rotated by angle degrees; cropped to the ink."""
    face = ImageFont.truetype(str(font), size_px)
    left, top, right, bottom = face.getbbox(text, stroke_width=stroke)
    pad = 4 + stroke
    layer = Image.new("L", (right - left + 2 * pad, bottom - top + 2 * pad), 0)
    ImageDraw.Draw(layer).text((pad - left, pad - top), text, fill=255, font=face, stroke_width=stroke,
                               stroke_fill=255)
    if mirror:
        layer = ImageOps.mirror(layer)
    rotated = layer.rotate(angle, resample=Image.BICUBIC, expand=True)
    return np.asarray(rotated, dtype=np.float32) / 255.0


def _strip_layers(text: str | None, font: Path, width: int, height: int, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """(strip coverage, text-inside-strip coverage), both rotated by angle; the strip has hard edges."""
    strip = Image.new("L", (width, height), 255)
    ink = Image.new("L", (width, height), 0)
    if text:
        face = ImageFont.truetype(str(font), max(8, int(height * 0.6)))
        left, top, right, bottom = face.getbbox(text)
        x = max(2, (width - (right - left)) // 2) - left
        ImageDraw.Draw(ink).text((x, (height - (bottom - top)) // 2 - top), text, fill=255, font=face)
    # bilinear keeps the edges one pixel sharp without the stair steps NEAREST leaves on a slight tilt
    strip = strip.rotate(angle, resample=Image.BILINEAR, expand=True)
    ink = ink.rotate(angle, resample=Image.BICUBIC, expand=True)
    return np.asarray(strip, dtype=np.float32) / 255.0, np.asarray(ink, dtype=np.float32) / 255.0


def blend(canvas: np.ndarray, mask: np.ndarray, value: float, top: int, left: int) -> np.ndarray:
    """Return canvas with value painted through mask placed at (top, left); parts off the tile are cut."""
    out = canvas.copy()
    rows, cols = canvas.shape
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + mask.shape[0], rows), min(left + mask.shape[1], cols)
    if y1 <= y0 or x1 <= x0:
        return out
    alpha = mask[y0 - top:y1 - top, x0 - left:x1 - left]
    region = out[y0:y1, x0:x1]
    out[y0:y1, x0:x1] = region * (1 - alpha) + value * alpha
    return out


def inside_position(rng: np.random.Generator, size: int, extent: int) -> int:
    """Offset that keeps extent pixels inside the tile when they fit, else a random partial view."""
    if extent <= size:
        return int(rng.integers(0, size - extent + 1))
    return int(rng.integers(size - extent, 1))


def cut_position(rng: np.random.Generator, size: int, extent: int) -> int:
    """Offset that puts 30-65% of extent beyond the start or the end of the tile."""
    outside = int(extent * rng.uniform(0.3, 0.65))
    return -outside if rng.random() < 0.5 else size - extent + outside


def _visible_ink(mask: np.ndarray, size: int, top: int, left: int) -> float:
    """Share of the mask's ink that lands inside a size x size tile when placed at (top, left)."""
    inside = mask[max(0, -top):max(0, size - top), max(0, -left):max(0, size - left)]
    return float(inside.sum() / max(mask.sum(), 1e-6))


def place(rng: np.random.Generator, size: int, mask: np.ndarray, cut: bool) -> tuple[int, int]:
    """(top, left) for the mask: most of the ink inside, or for cut text 35-75% of it, so that what shows
    is still legible lettering rather than an empty corner of a rotated bounding box."""
    wanted = (0.35, 0.75) if cut else (0.6, 1.0)
    best, best_gap = (0, 0), np.inf
    for _ in range(12):
        top, left = inside_position(rng, size, mask.shape[0]), inside_position(rng, size, mask.shape[1])
        if cut and rng.random() < 0.5:
            top = cut_position(rng, size, mask.shape[0])
        elif cut:
            left = cut_position(rng, size, mask.shape[1])
        visible = _visible_ink(mask, size, top, left)
        gap = max(wanted[0] - visible, visible - wanted[1], 0.0)
        if gap == 0.0:
            return top, left
        if gap < best_gap:
            best, best_gap = (top, left), gap
    return best


def draw_text(canvas: np.ndarray, kind: str, lettering: LetteringStyle, rng: np.random.Generator) -> np.ndarray:
    """Return canvas with lettering of the given kind (one of TEXT_KINDS) burned in."""
    size = canvas.shape[0]
    scale = size / 299
    font = lettering.fonts[rng.integers(len(lettering.fonts))]
    if kind == "single_letter":
        text = str(rng.choice(lettering.singles))
        size_px = int(scale * rng.uniform(26, 56))
    else:
        text = str(rng.choice(lettering.words))
        size_px = int(scale * rng.uniform(55, 110) * (0.6 if len(text) > 7 else 1.0))
    angle = _angle(rng, lettering)
    mask = text_mask(text, font, max(8, size_px), angle, stroke=int(rng.integers(0, 3)),
                     mirror=kind == "mirrored_text")
    film = float(np.median(canvas))
    if kind == "text_low_contrast":
        # grey lettering a few tens of levels above the film: visible by eye, yet below a "> 200" rule
        value = min(film + rng.uniform(45, 110), 185.0)
    elif kind == "faint_text":
        # barely above the film, as under-exposed or worn lettering on the margin is
        value = film + rng.uniform(12, 40)
    else:
        value = rng.uniform(215, 255)
    top, left = place(rng, size, mask, cut=kind == "text_cut")
    if kind in ("faint_text", "mirrored_text") and rng.random() < 0.4:
        # the band stays darker than the text on it, however faint the text is
        canvas = _band(canvas, mask.shape, top, left, film + min(rng.uniform(8, 30), 0.5 * (value - film)), rng)
    return blend(canvas, mask, value, top, left)


def _band(canvas: np.ndarray, extent: tuple[int, int], top: int, left: int, level: float,
          rng: np.random.Generator) -> np.ndarray:
    """Return canvas with a hard-edged greyer band across the tile behind text of the given extent (the
    lighter strip that the film's label area leaves on real films), running along the text."""
    out = canvas.copy()
    pad = int(rng.integers(3, 15))
    if extent[0] > extent[1]:  # text runs down the tile: a vertical band
        region = (slice(None), slice(max(0, left - pad), max(0, left + extent[1] + pad)))
    else:
        region = (slice(max(0, top - pad), max(0, top + extent[0] + pad)), slice(None))
    out[region] = np.maximum(out[region], level)
    return out


def draw_label_strip(canvas: np.ndarray, lettering: LetteringStyle, rng: np.random.Generator) -> np.ndarray:
    """Return canvas with a bright rectangular label (often holding dark text), possibly cut by the edge."""
    size = canvas.shape[0]
    width = int(size * rng.uniform(0.35, 0.9))
    height = int(size * rng.uniform(0.1, 0.26))
    text = str(rng.choice(lettering.words)) if rng.random() < 0.8 else None
    font = lettering.fonts[rng.integers(len(lettering.fonts))]
    # labels are stuck on square with the film, so only small tilts, in both styles
    angle = float(90 * rng.integers(0, 2) + rng.normal(0, 2))
    strip, ink = _strip_layers(text, font, width, height, angle)
    top, left = inside_position(rng, size, strip.shape[0]), inside_position(rng, size, strip.shape[1])
    if rng.random() < 0.4:
        left = cut_position(rng, size, strip.shape[1])
    out = blend(canvas, strip, rng.uniform(215, 250), top, left)
    return blend(out, ink, rng.uniform(15, 80), top, left)
