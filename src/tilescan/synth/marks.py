"""What real film shows outside the breast besides plain burned-in text: white tags with dark letters, small
digits on the black margin, lettering beside a bright film edge, and metal markers (no letters at all).

The lettering uses the fonts, words and digits of the tile's LetteringStyle only (see lettering.py), and no
drawing code of the detector's compositor.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps

from tilescan.synth.lettering import LetteringStyle, blend, cut_position, inside_position, place, text_mask


def _tag_layers(lines: list[str], font: Path, size_px: int, angle: float, mirror: bool,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(tag coverage, letters coverage) of a rectangular tag holding the lines centred, rotated by angle."""
    face = ImageFont.truetype(str(font), size_px)
    boxes = [face.getbbox(line) for line in lines]
    line_height = int(size_px * 1.15)
    pad_x, pad_y = int(size_px * rng.uniform(0.3, 0.8)), int(size_px * rng.uniform(0.25, 0.6))
    width = max(box[2] - box[0] for box in boxes) + 2 * pad_x
    height = line_height * len(lines) + 2 * pad_y
    tag = Image.new("L", (width, height), 255)
    ink = Image.new("L", (width, height), 0)
    for i, (line, box) in enumerate(zip(lines, boxes)):
        x = (width - (box[2] - box[0])) // 2 - box[0]
        y = pad_y + i * line_height + (line_height - (box[3] - box[1])) // 2 - box[1]
        ImageDraw.Draw(ink).text((x, y), line, fill=255, font=face)
    if mirror:  # a tag exposed from the film's back reads mirrored (the "R ML" tags of real films)
        ink = ImageOps.mirror(ink)
    tag = tag.rotate(angle, resample=Image.BILINEAR, expand=True)
    ink = ink.rotate(angle, resample=Image.BICUBIC, expand=True)
    return np.asarray(tag, dtype=np.float32) / 255.0, np.asarray(ink, dtype=np.float32) / 255.0


def draw_tag(canvas: np.ndarray, lettering: LetteringStyle, rng: np.random.Generator) -> np.ndarray:
    """Return canvas with a white or light grey tag holding dark letters (one or two lines, sometimes
    mirrored), upright or on its side, often cut by the tile border."""
    size = canvas.shape[0]
    short_words = [w for w in lettering.words if len(w) <= 5]
    lines = [str(rng.choice(lettering.singles)), str(rng.choice(short_words))]
    if rng.random() < 0.3:
        lines = lines[int(rng.integers(0, 2)):][:1]
    font = lettering.fonts[rng.integers(len(lettering.fonts))]
    size_px = max(8, int(size / 299 * rng.uniform(22, 44)))
    angle = float(90 * (rng.random() < 0.2) + rng.normal(0, 1.5))
    tag, ink = _tag_layers(lines, font, size_px, angle, mirror=rng.random() < 0.4, rng=rng)
    top, left = inside_position(rng, size, tag.shape[0]), inside_position(rng, size, tag.shape[1])
    if rng.random() < 0.4:
        if rng.random() < 0.5:
            top = cut_position(rng, size, tag.shape[0])
        else:
            left = cut_position(rng, size, tag.shape[1])
    tag_level = rng.uniform(205, 250) if rng.random() < 0.8 else rng.uniform(170, 205)
    out = blend(canvas, tag, tag_level, top, left)
    return blend(out, ink, rng.uniform(10, 90), top, left)


def draw_margin_digits(canvas: np.ndarray, lettering: LetteringStyle, rng: np.random.Generator) -> np.ndarray:
    """Return canvas with one or two small grey groups of digits (film and cassette numbers) on the film;
    the tile around them stays black."""
    size = canvas.shape[0]
    film = float(np.median(canvas))
    out = canvas
    for _ in range(1 + int(rng.random() < 0.4)):
        text = str(rng.choice(lettering.digits))
        font = lettering.fonts[rng.integers(len(lettering.fonts))]
        size_px = max(8, int(size / 299 * rng.uniform(13, 30)))
        # numbers are printed square with the film in both styles
        angle = float(90 * rng.integers(0, 4) + rng.normal(0, 2))
        mask = text_mask(text, font, size_px, angle, stroke=0, mirror=rng.random() < 0.3)
        top, left = place(rng, size, mask, cut=rng.random() < 0.3)
        out = blend(out, mask, film + rng.uniform(30, 120), top, left)
    return out


def draw_edge_text(canvas: np.ndarray, border: np.ndarray, side: int, lettering: LetteringStyle,
                   rng: np.random.Generator) -> np.ndarray:
    """Return canvas with lettering running along a bright film edge (border: its coverage, on the given
    side, 0 right 1 bottom 2 left 3 top), a few pixels clear of it."""
    turned, edge = np.rot90(canvas, side), np.rot90(border, side)  # now the edge is on the right
    size = canvas.shape[0]
    scale = size / 299
    text = str(rng.choice(lettering.words if rng.random() < 0.8 else lettering.singles))
    font = lettering.fonts[rng.integers(len(lettering.fonts))]
    size_px = max(8, int(scale * rng.uniform(22, 55) * (0.7 if len(text) > 7 else 1.0)))
    angle = float(90 + 180 * rng.integers(0, 2) + rng.normal(0, 1.5))  # along the edge
    mask = text_mask(text, font, size_px, angle, stroke=int(rng.integers(0, 2)), mirror=rng.random() < 0.4)
    top = inside_position(rng, size, mask.shape[0])
    rows = edge[max(0, top):max(0, top + mask.shape[0])]
    edge_cols = np.flatnonzero(rows.max(axis=0) > 0.05) if rows.size else np.array([], dtype=int)
    edge_col = int(edge_cols.min()) if edge_cols.size else size
    left = edge_col - int(scale * rng.uniform(6, 30)) - 2 - mask.shape[1]
    out = blend(np.ascontiguousarray(turned), mask, rng.uniform(180, 255), top, left)
    return np.ascontiguousarray(np.rot90(out, -side))


def draw_marker(canvas: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Return canvas with a metal marker: a bright, solid, hard-edged BB, disc, ring or bar; no letters."""
    size = canvas.shape[0]
    scale = size / 299
    layer = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(layer)
    shape = str(rng.choice(["bb", "disc", "ring", "bar"], p=[0.3, 0.25, 0.2, 0.25]))
    y, x = rng.uniform(0.12, 0.88, 2) * size
    if shape == "bar":  # a lead bar or ruler piece, square with the film, often cut by the border
        half_w, half_h = scale * rng.uniform(3, 10), scale * rng.uniform(12, 45)
        if rng.random() < 0.5:
            half_w, half_h = half_h, half_w
        draw.rectangle((x - half_w, y - half_h, x + half_w, y + half_h), fill=255)
    else:
        radius = scale * {"bb": rng.uniform(2.5, 6), "disc": rng.uniform(6, 16), "ring": rng.uniform(8, 18)}[shape]
        width = max(1, int(scale * rng.uniform(2, 4))) if shape == "ring" else 0
        if width:
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), outline=255, width=width)
        else:
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=255)
    if shape == "bb" and rng.random() < 0.3:  # BBs often come in pairs
        y2, x2 = np.array([y, x]) + rng.normal(0, 25 * scale, 2)
        r2 = scale * rng.uniform(2.5, 5)
        draw.ellipse((x2 - r2, y2 - r2, x2 + r2, y2 + r2), fill=255)
    return blend(canvas, np.asarray(layer, dtype=np.float32) / 255.0, rng.uniform(225, 255), 0, 0)
