"""Keras pieces whose float results do not depend on the CPU's maker (issue 15: the committed dvc.lock holds on
any x86-64 machine with AVX2).

TensorFlow computes two ops from approximations that the CPU itself supplies: Rsqrt is the CPU's `vrsqrtps`
estimate refined by one Newton step, Reciprocal likewise from `vrcpps` (session 21: each equal to that formula
on 10^6 inputs, and 24% and 32% of them are not the correctly rounded value; TensorFlow's rsqrt and inverse
functors hold those instructions, its sigmoid, exp, log, log1p, tanh, sqrt and division functors do not).
Intel and AMD build those estimates differently (the instruction set only bounds their error), so the
autoencoder and the detector trained to other weights on an AMD EPYC than on the Intel Xeon that had committed
dvc.lock, although every input matched. Keras reaches them in two places, both replaced here by operations that
every x86 CPU rounds alike:

- `BatchNormalization`: Keras multiplies by rsqrt(variance + epsilon); this layer divides gamma by the square
  root, once per channel, and applies that scale as Keras does (session 22: dividing every activation, the
  detector core alone trained at 0.77x Keras's speed; this way, 0.95x).
- `BinaryCrossentropy`: Keras takes the loss from the sigmoid's logits (`sigmoid_cross_entropy_with_logits`),
  whose Log1p has a Reciprocal in its gradient, or, where it cannot find them (under a distribution strategy),
  from log(p), whose gradient is a Reciprocal too; this loss takes the same logits through Softplus, whose
  gradient is a Sigmoid (TensorFlow's is a ratio of polynomials, divided exactly), and the probabilities
  through xlogy, whose gradient divides.

`tests/test_exact_keras.py` checks that the training and inference graphs of both networks hold neither op.
"""
from __future__ import annotations

import keras
from keras import layers, ops


class BatchNormalization(layers.BatchNormalization):
    """keras.layers.BatchNormalization (channels last, no renormalisation, no mask) with an exactly rounded
    normalisation: x * scale + (beta - mean * scale), scale = gamma / sqrt(variance + epsilon) per channel (Keras's
    arrangement, with the division for its rsqrt). Same weights and moving statistics, same name, so its weight
    files are interchangeable with Keras's layer."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        if self.axis != -1 or self.renorm:
            raise ValueError("tilescan's BatchNormalization supports axis=-1 without renorm only")

    def call(self, inputs, training=None, mask=None):
        if mask is not None:
            raise ValueError("tilescan's BatchNormalization takes no mask")
        # float16 / bfloat16 inputs are normalised in float32, as Keras does
        inputs = ops.cast(inputs, keras.backend.result_type(inputs.dtype, "float32"))
        moving_mean = ops.cast(self.moving_mean, inputs.dtype)
        moving_variance = ops.cast(self.moving_variance, inputs.dtype)
        if training and self.trainable:
            mean, variance = self._moments(inputs, mask)
            self.moving_mean.assign(moving_mean * self.momentum + mean * (1.0 - self.momentum))
            self.moving_variance.assign(moving_variance * self.momentum + variance * (1.0 - self.momentum))
        else:
            mean, variance = moving_mean, moving_variance
        gamma = ops.cast(self.gamma, inputs.dtype) if self.scale else 1.0
        scale = gamma / ops.sqrt(variance + self.epsilon)  # per channel: no full-size division
        offset = ops.cast(self.beta, inputs.dtype) - mean * scale if self.center else -mean * scale
        return ops.cast(inputs * scale + offset, self.compute_dtype)


class BinaryCrossentropy(keras.losses.Loss):
    """keras.losses.BinaryCrossentropy of a sigmoid output, with label smoothing (z = y (1 - s) + s / 2), computed
    as Keras computes it on TensorFlow. From the sigmoid's logits x where they can be found (`sigmoid_logits`),
    so that a saturated sigmoid still learns: the mean over the last axis of softplus(x) - z x. Keras writes it
    as relu(x) - z x + log1p(exp(-|x|)), whose Log1p puts a Reciprocal into the gradient; Softplus's gradient
    is a Sigmoid, which TensorFlow computes without the CPU's estimates. Otherwise (a distribution strategy
    hands the loss its replicas' probabilities) from the probabilities p clipped to [epsilon, 1 - epsilon], as
    Keras does there: -(z log p + (1 - z) log(1 - p)), with xlogy, whose gradient divides where Log's
    multiplies by a Reciprocal."""

    def __init__(self, label_smoothing: float = 0.0, name: str = "binary_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.label_smoothing = label_smoothing

    def call(self, y_true, y_pred):
        import tensorflow as tf  # here: the layer above also serves Keras on JAX, where TensorFlow may be absent

        z = ops.cast(y_true, "float32") * (1.0 - self.label_smoothing) + 0.5 * self.label_smoothing
        logits = sigmoid_logits(y_pred)
        if logits is not None:
            return ops.mean(ops.softplus(logits) - z * logits, axis=-1)
        epsilon = keras.backend.epsilon()
        p = ops.clip(ops.cast(y_pred, "float32"), epsilon, 1.0 - epsilon)
        return -ops.mean(tf.math.xlogy(z, p) + tf.math.xlogy(1.0 - z, 1.0 - p), axis=-1)

    def get_config(self) -> dict:
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


def sigmoid_logits(probability):
    """The logits a sigmoid's output came from, found as Keras's TensorFlow backend finds them (the
    `_keras_logits` it keeps on a sigmoid's output, or in a graph the Sigmoid op's input); None if neither."""
    import tensorflow as tf

    logits = getattr(probability, "_keras_logits", None)
    op = None if tf.executing_eagerly() else getattr(probability, "op", None)
    if logits is None and getattr(op, "type", "") == "Sigmoid":
        logits = op.inputs[0]
    return None if logits is None else ops.cast(logits, "float32")
