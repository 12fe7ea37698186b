"""tilescan.exact_keras: the same results as Keras's layer and loss (to float rounding), and training and
inference graphs of both networks free of TensorFlow's CPU-estimated ops (Rsqrt, Reciprocal)."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from tilescan.detect.model import build_core, build_detector
from tilescan.exact_keras import BatchNormalization, BinaryCrossentropy
from tilescan.model import build_autoencoder

# ops whose CPU kernels refine the CPU's own estimate (vrsqrtps, vrcpps; session 21 found these instructions in
# TensorFlow's rsqrt and inverse functors, and in no sigmoid, exp, log, log1p, tanh, sqrt or division functor)
CPU_ESTIMATED = {"Rsqrt", "RsqrtGrad", "Reciprocal", "ReciprocalGrad", "Inv", "InvGrad", "FusedBatchNorm",
                 "FusedBatchNormV2", "FusedBatchNormV3"}


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_normalization_matches_keras(training, affine):
    x = np.random.default_rng(0).normal(3.0, 2.0, (8, 5, 5, 4)).astype(np.float32)
    ours, theirs = (layer(momentum=0.9, center=affine, scale=affine)
                    for layer in (BatchNormalization, keras.layers.BatchNormalization))
    gamma_beta = [np.linspace(0.5, 2.0, 4, dtype=np.float32), np.linspace(-1.0, 1.0, 4, dtype=np.float32)]
    moving_mean_variance = [np.linspace(1.0, 4.0, 4, dtype=np.float32), np.linspace(0.5, 3.0, 4, dtype=np.float32)]
    for layer in (ours, theirs):
        layer.build(x.shape)
        layer.set_weights((gamma_beta if affine else []) + moving_mean_variance)
    np.testing.assert_allclose(ours(x, training=training), theirs(x, training=training), rtol=1e-5, atol=1e-5)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):  # the moving statistics after the update
        np.testing.assert_allclose(a, b, rtol=1e-6)
    assert ours.name.startswith("batch_normalization")  # weight files name it as Keras does


def test_batch_normalization_refuses_what_it_does_not_implement():
    with pytest.raises(ValueError, match="axis=-1"):
        BatchNormalization(axis=1)


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_binary_crossentropy_matches_keras(smoothing):
    rng = np.random.default_rng(1)
    y_true = (rng.random((16, 6, 1)) > 0.5).astype(np.float32)
    logits = tf.Variable(rng.normal(0.0, 8.0, (16, 6, 1)).astype(np.float32))  # many saturated sigmoids
    values, gradients = [], []
    for loss in (BinaryCrossentropy(label_smoothing=smoothing),
                 keras.losses.BinaryCrossentropy(label_smoothing=smoothing)):
        with tf.GradientTape() as tape:
            value = loss(y_true, keras.activations.sigmoid(logits))
        values.append(float(value))
        gradients.append(tape.gradient(value, logits).numpy())
    np.testing.assert_allclose(values[0], values[1], rtol=1e-5)
    np.testing.assert_allclose(gradients[0], gradients[1], rtol=1e-4, atol=1e-8)
    if smoothing:  # with smoothed targets every tile, saturated ones too, keeps a gradient (a clipped p would not)
        assert np.abs(gradients[0]).min() > 0


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_binary_crossentropy_on_probabilities_matches_keras(smoothing):
    """Without a sigmoid's logits (a distribution strategy's replicas) both fall back to clipped probabilities."""
    rng = np.random.default_rng(2)
    y_true = (rng.random((16, 6, 1)) > 0.5).astype(np.float32)
    probability = tf.Variable(rng.uniform(0.0, 1.0, (16, 6, 1)).astype(np.float32))
    values, gradients = [], []
    for loss in (BinaryCrossentropy(label_smoothing=smoothing),
                 keras.losses.BinaryCrossentropy(label_smoothing=smoothing)):
        with tf.GradientTape() as tape:
            value = loss(y_true, probability * 1.0)
        values.append(float(value))
        gradients.append(tape.gradient(value, probability).numpy())
    np.testing.assert_allclose(values[0], values[1], rtol=1e-5)
    np.testing.assert_allclose(gradients[0], gradients[1], rtol=1e-4, atol=1e-8)


def test_binary_crossentropy_on_probabilities_uses_no_cpu_estimated_ops():
    probability = tf.Variable(np.full((4, 1), 0.3, np.float32))

    @tf.function
    def gradient(y):
        with tf.GradientTape() as tape:
            value = BinaryCrossentropy(label_smoothing=0.1)(y, probability * 1.0)
        return tape.gradient(value, probability)

    graph = gradient.get_concrete_function(tf.TensorSpec((4, 1), tf.float32)).graph
    types = {op.type for op in graph.get_operations()}
    assert "Xlogy" in types and not types & CPU_ESTIMATED


def graph_op_types(model, shape, loss=None) -> set[str]:
    """Op types of inference, and with a loss of one training step too (forward, loss, gradients, Adam)."""
    optimizer = keras.optimizers.Adam(1e-3)
    optimizer.build(model.trainable_variables)

    @tf.function
    def step(x):
        if loss is not None:
            with tf.GradientTape() as tape:
                prediction = model(x, training=True)
                value = loss(tf.ones_like(prediction), prediction)
            gradients = tape.gradient(value, model.trainable_variables)
            optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        return model(x, training=False)

    return {op.type for op in step.get_concrete_function(tf.TensorSpec(shape, tf.float32)).graph.get_operations()}


def test_networks_use_no_cpu_estimated_ops():
    """What the stages run: the autoencoder's and the detector core's training, the detector's inference."""
    _, _, autoencoder = build_autoencoder(16, 1, [4, 4, 4], 8, 6)
    core = build_core()
    detector = build_detector(core, 48, views=2, tile_padding=4)
    for model, shape, loss in ((autoencoder, (2, 16, 16, 1), BinaryCrossentropy()),
                               (core, (2, 32, 32, 1), BinaryCrossentropy(label_smoothing=0.1)),
                               (detector, (2, 64, 64, 1), None)):
        types = graph_op_types(model, shape, loss)
        assert {"Sqrt", "Conv2D"} <= types  # the graph was traced in full
        assert loss is None or {"Softplus", "AssignVariableOp"} <= types  # the loss and Adam's update are in
        assert not types & CPU_ESTIMATED, f"{model.name}: {sorted(types & CPU_ESTIMATED)}"


def test_keras_own_pieces_do_use_them():
    """The check above can fail: Keras's layer and loss put Rsqrt and Reciprocal into the same kind of graph."""
    image = keras.Input((8, 8, 1))
    x = keras.layers.BatchNormalization()(keras.layers.Conv2D(2, 3)(image))
    model = keras.Model(image, keras.layers.Dense(1, activation="sigmoid")(keras.layers.Flatten()(x)))
    types = graph_op_types(model, (2, 8, 8, 1), keras.losses.BinaryCrossentropy())
    assert {"Rsqrt", "Reciprocal"} <= types
