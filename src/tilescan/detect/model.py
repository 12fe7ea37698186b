"""A small fully-convolutional Keras 3 network: "does this tile show lettering anywhere?".

The detector shrinks a tile inside the model (area averaging to `input_size`, default 160 px for a 299 px
tile, so an 8 px digit stays ~4 px high) and passes it to the `core`: a few 3x3 convolutions striding down
to 1/8 and a global max pool over the feature map ("anything, anywhere"). Because the core is fully
convolutional it is trained on crops (cheaper) and applied to whole tiles. Its convolutions pad with zeros, which
draws an artificial edge round every crop, so the network learns to disregard a band along the border.

- `tile_padding` (inference): the detector mirrors the shrunk tile that many pixels past each border before the
  core sees it, so lettering cut by the tile border lies inside the image, not in that band (real film gains,
  the synthetic sets hold: docs/experiments.md, Session 17).
- `edge_padding` (training and inference, off by default): the core itself mirrors every image, crops included,
  so the border is not special at all (real film gains more, the synthetic sets lose).
- `local_contrast` (a core's input): a second channel, each pixel's difference from its 7x7 neighbourhood's mean
  over that neighbourhood's spread plus 8 grey levels. Strokes a few tens of levels above flat film come out
  more than half as strong as bright ones, while grain under the floor stays small. `train_detector.
  local_contrast_members` gives it to the last network(s): on sets drawn by independent generators it found faint
  text the plain core misses; on real film and the project's own sets the plain core ranks as well or better,
  so the pipeline pairs one of each (docs/experiments.md, Session 25).
- `views`: the detector averages the core's probability over that many mirrored / turned copies of the tile
  (test-time augmentation: the views disagree most on the tiles the core is least sure of). With several cores
  (`train_detector.members`) the views are shared among them: a seed ensemble at one core's inference cost.

Inputs are uint8-range grayscale, shape (batch, height, width, 1); the output is a probability.
"""
from __future__ import annotations

from typing import Sequence

import keras
from keras import layers, ops

from tilescan.exact_keras import BatchNormalization
from tilescan.params import DETECTOR_VIEWS
from tilescan.runtime import configure_tensorflow

# train_detector reaches TensorFlow through this module: pin its thread pools on import, before the first op
# (as tilescan.model does for the autoencoder; a no-op in unpinned processes).
configure_tensorflow()

DEFAULT_INPUT_SIZE = 160
DEFAULT_WIDTHS = (12, 20, 32, 48, 64)
DEFAULT_EDGE_PADDING = 0
DEFAULT_TILE_PADDING = 8
CONTRAST_WINDOW = 7     # model pixels a side of the local-contrast neighbourhood
CONTRAST_FLOOR = 8.0    # grey levels added to the neighbourhood's spread: grain below it stays small


class ReflectBorder(layers.Layer):
    """Pad height and width by `width` pixels on each side with the image's reflection (numpy.pad's "reflect")."""

    def __init__(self, width: int, **kwargs):
        super().__init__(**kwargs)
        self.width = width

    def call(self, images):
        w = self.width
        return ops.pad(images, ((0, 0), (w, w), (w, w), (0, 0)), mode="reflect")

    def get_config(self) -> dict:
        return {**super().get_config(), "width": self.width}


class LocalContrast(layers.Layer):
    """(x - mean) / (spread + floor) / 3 over each pixel's window x window neighbourhood (mirrored at the border);
    box sums by running sums, a twentieth of a 7x7 average pool's time on CPU."""

    def __init__(self, window: int = CONTRAST_WINDOW, floor: float = CONTRAST_FLOOR, **kwargs):
        super().__init__(**kwargs)
        self.window, self.floor = window, floor

    def _box_mean(self, x):
        w, r = self.window, self.window // 2
        sums = ops.cumsum(ops.pad(x, ((0, 0), (r + 1, r), (r + 1, r), (0, 0)), mode="symmetric"), axis=1)
        sums = ops.cumsum(sums[:, w:] - sums[:, :-w], axis=2)
        return (sums[:, :, w:] - sums[:, :, :-w]) / (w * w)

    def call(self, images):
        x = images - 128.0  # centred: smaller running sums, fewer float32 rounding errors
        mean = self._box_mean(x)
        spread = ops.sqrt(ops.relu(self._box_mean(x * x) - mean * mean) + 1e-6)
        return (x - mean) / (spread + self.floor) / 3.0

    def get_config(self) -> dict:
        return {**super().get_config(), "window": self.window, "floor": self.floor}


def _conv(x, filters: int, strides: int = 1):
    x = layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False)(x)
    x = BatchNormalization(momentum=0.9)(x)
    return layers.ReLU()(x)


def build_core(widths: tuple[int, ...] = DEFAULT_WIDTHS, dropout: float = 0.2,
               edge_padding: int = DEFAULT_EDGE_PADDING, local_contrast: bool = False,
               name: str = "lettering_core") -> keras.Model:
    """Fully-convolutional classifier on already-shrunk images of any size larger than edge_padding (uncompiled);
    local_contrast: a LocalContrast channel beside the rescaled image."""
    image = keras.Input(shape=(None, None, 1), name="shrunk")
    padded = ReflectBorder(edge_padding, name="reflect_border")(image) if edge_padding else image
    x = layers.Rescaling(1 / 127.5, offset=-1.0)(padded)
    if local_contrast:
        x = layers.Concatenate(name="with_local_contrast")([x, LocalContrast(name="local_contrast")(padded)])
    w1, w2, w3, w4, w5 = widths
    x = _conv(x, w1)                 # model resolution: thin strokes, small digits
    x = _conv(x, w2, strides=2)      # 1/2
    x = _conv(x, w2)
    x = _conv(x, w3, strides=2)      # 1/4
    x = _conv(x, w4)
    x = _conv(x, w4, strides=2)      # 1/8
    x = _conv(x, w5)
    x = layers.GlobalMaxPooling2D()(x)
    x = layers.Dropout(dropout)(x)
    # float32 whatever the dtype policy: under mixed_float16 a float16 sigmoid rounds probabilities (GPU check)
    prob = layers.Dense(1, activation="sigmoid", name="lettering", dtype="float32")(x)
    return keras.Model(image, prob, name=name)


def _views(x, count: int) -> list:
    """The first `count` of: x, x mirrored left-right, x transposed, x turned by 180 degrees."""
    return [x, ops.flip(x, axis=2), ops.transpose(x, (0, 2, 1, 3)), ops.flip(ops.flip(x, axis=1), axis=2)][:count]


def build_detector(cores: keras.Model | Sequence[keras.Model], input_size: int = DEFAULT_INPUT_SIZE, views: int = 2,
                   tile_padding: int = DEFAULT_TILE_PADDING) -> keras.Model:
    """Whole-tile detector: shrink any tile to input_size x input_size (area averaging), mirror it tile_padding
    pixels past each border, then the mean of the cores' probability over `views` (1, 2 or 4) mirrored / turned
    copies of it; view k is scored by core k mod (number of cores), so two cores and two views score the tile
    with the first and its mirror image with the second (a two-member ensemble at one core's inference cost)."""
    cores = [cores] if isinstance(cores, keras.Model) else list(cores)
    if views not in DETECTOR_VIEWS:
        raise ValueError(f"views must be one of {DETECTOR_VIEWS}, not {views}")
    if not 1 <= len(cores) <= views:
        raise ValueError(f"{len(cores)} cores for {views} views: each core needs a view")
    tiles = keras.Input(shape=(None, None, 1), name="tile")
    x = layers.Resizing(input_size, input_size, interpolation="area", name="shrink")(tiles)
    x = ReflectBorder(tile_padding, name="reflect_tile")(x) if tile_padding else x
    probabilities = [cores[k % len(cores)](view) for k, view in enumerate(_views(x, views))]
    prob = probabilities[0] if views == 1 else layers.Average(name="mean_of_views", dtype="float32")(probabilities)
    return keras.Model(tiles, prob, name="lettering_detector")
