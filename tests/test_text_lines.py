"""Glyphs in a row: lettering lines up, dust, edges and texture do not."""
import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

from tilescan.text_lines import glyph_candidates, text_lines

SIDE = 200


def lines_of(image: np.ndarray) -> tuple[int, int]:
    """text_lines of an image whose bright pixels (> 128) are the strokes."""
    labels, _ = ndimage.label(image > 128)
    areas = np.bincount(labels.ravel())[1:]
    return text_lines(*glyph_candidates(ndimage.find_objects(labels), areas, min(image.shape)))


def lettering(text: str, angle: float = 0.0, mirror: bool = False) -> np.ndarray:
    canvas = Image.new("L", (SIDE, SIDE), 0)
    ImageDraw.Draw(canvas).text((20, 80), text, fill=255, font=ImageFont.load_default(size=30))
    canvas = canvas.rotate(angle, resample=Image.NEAREST)
    return np.asarray(canvas.transpose(Image.FLIP_LEFT_RIGHT) if mirror else canvas)


def test_a_word_is_one_line_of_its_letters():
    assert lines_of(lettering("MAY 25")) == (5, 1)  # the space splits nothing: M A Y 2 5 within reach
    assert lines_of(lettering("R   CC"))[1] >= 1


def test_rotated_and_mirrored_words_still_line_up():
    for angle in (30, 90, 135):
        assert lines_of(lettering("MAMMO", angle))[0] >= 4, angle
    assert lines_of(lettering("MAMMO", mirror=True))[0] == 5


def test_specks_a_film_edge_and_a_lone_letter_are_no_line():
    rng = np.random.default_rng(0)
    dust = np.zeros((SIDE, SIDE), np.uint8)
    for y, x in rng.integers(5, SIDE - 5, size=(60, 2)):
        dust[y - 1:y + 2, x - 1:x + 2] = 255  # specks smaller than any glyph
    edge = np.zeros((SIDE, SIDE), np.uint8)
    edge[:, 150:153] = 255
    assert lines_of(dust) == (0, 0)
    assert lines_of(edge) == (0, 0)
    assert lines_of(lettering("R")) == (0, 0)


def test_a_grid_of_like_blobs_is_not_a_line():
    """Texture: many shapes of one size side by side, but spread in two directions."""
    grid = np.zeros((SIDE, SIDE), np.uint8)
    for y in range(20, 180, 16):
        for x in range(20, 180, 16):
            grid[y:y + 8, x:x + 8] = 255
            grid[y + 2:y + 6, x + 2:x + 6] = 0  # rings: glyph-like fill, not solid blobs
    assert lines_of(grid) == (0, 0)


def ring(image: np.ndarray, top: int, left: int, size: int) -> None:
    """A hollow square: glyph-like in size and fill."""
    image[top:top + size, left:left + size] = 255
    image[top + 3:top + size - 3, left + 3:left + size - 3] = 0


def test_sizes_must_match_within_a_line():
    like, unlike = np.zeros((SIDE, SIDE), np.uint8), np.zeros((SIDE, SIDE), np.uint8)
    ring(like, 90, 20, 20)
    ring(like, 90, 48, 20)
    ring(unlike, 90, 20, 20)
    ring(unlike, 96, 48, 9)  # less than half the size, as close
    assert lines_of(like) == (2, 1)
    assert lines_of(unlike) == (0, 0)
