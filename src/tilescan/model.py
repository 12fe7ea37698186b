"""The research notebook's convolutional autoencoder, with its sizes as arguments."""
from __future__ import annotations

import keras
from keras import layers

from tilescan.exact_keras import BatchNormalization
from tilescan.runtime import configure_tensorflow

# Every stage that runs TensorFlow (train_autoencoder, encode, report) reaches it through this module: pin
# its thread pools here, on import, before the first op starts the runtime (a no-op in unpinned processes).
configure_tensorflow()


def _conv_bn_relu(x, width: int, transpose: bool = False):
    conv = layers.Conv2DTranspose if transpose else layers.Conv2D
    x = conv(width, 3, padding="same", use_bias=False)(x)
    x = BatchNormalization()(x)
    return layers.ReLU()(x)


def build_autoencoder(img_size: int, channels: int, filters: list[int], dense_units: int, latent_dim: int):
    """Return (encoder, decoder, autoencoder); the autoencoder is compiled with Adam and binary cross-entropy
    by the caller. Layout follows the notebook: three Conv-BN-ReLU-MaxPool blocks, Dense, Dense latent (relu);
    the decoder mirrors it with UpSampling2D + Conv2DTranspose and a sigmoid 1x1 output. The sizes come from the
    validated params (img_size a multiple of 8, three filter widths: tilescan.params), not checked again here."""
    wide, mid, narrow = (int(f) for f in filters)
    side = img_size // 8

    image = keras.Input((img_size, img_size, channels), name="image")
    x = image
    for width in (wide, mid, narrow):
        x = layers.MaxPooling2D(2)(_conv_bn_relu(x, width))
    x = layers.Flatten()(x)
    x = layers.Dense(dense_units)(x)
    latent = layers.Dense(latent_dim, activation="relu", name="latent")(x)
    encoder = keras.Model(image, latent, name="encoder")

    code = keras.Input((latent_dim,), name="code")
    y = layers.Dense(dense_units)(code)
    y = layers.Dense(side * side * narrow, activation="relu")(y)
    y = layers.Reshape((side, side, narrow))(y)
    for width in (narrow, mid):
        y = _conv_bn_relu(layers.UpSampling2D(2)(y), width, transpose=True)
    y = layers.UpSampling2D(2)(y)
    y = layers.Conv2DTranspose(wide, 3, padding="same", activation="relu")(y)
    # float32 output keeps the loss stable under mixed precision
    output = layers.Conv2D(channels, 1, activation="sigmoid", dtype="float32", name="reconstruction")(y)
    decoder = keras.Model(code, output, name="decoder")

    autoencoder = keras.Model(image, decoder(encoder(image)), name="autoencoder")
    return encoder, decoder, autoencoder
