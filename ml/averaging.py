"""Dense weight averaging over the end of training (SWAD: Cha et al., NeurIPS 2021; SWA:
Izmailov et al., UAI 2018). The mean of the weights visited at a steady learning rate lies
nearer the centre of a flat region of the loss than the last weights do, and a flat minimum
has a smaller gap between the sources a network trained on and one it never saw. The
averaged weights have no batch statistics of their own, so those are measured again.
"""

from __future__ import annotations

from collections.abc import Iterable

import keras
import numpy as np


class WeightAveraging(keras.callbacks.Callback):
    """Keeps the running mean of `network`'s trainable weights after every training step from
    `first_step` on (counted from 0), and leaves the mean in `network` when training ends.
    `network` may be a model the fitted one wraps: they share their variables."""

    def __init__(self, network: keras.Model, first_step: int):
        super().__init__()
        self.network = network
        self.first_step = first_step
        self.step = 0
        self.averaged = 0
        self.mean: list[np.ndarray] = []

    def on_train_batch_end(self, batch, logs=None):
        if self.step >= self.first_step:
            self._add(self.network.trainable_weights)
        self.step += 1

    def _add(self, variables) -> None:
        values = [np.asarray(v.numpy(), dtype=np.float64) for v in variables]
        self.averaged += 1
        if self.averaged == 1:
            self.mean = values
            return
        for mean, value in zip(self.mean, values, strict=True):
            mean += (value - mean) / self.averaged

    def on_train_end(self, logs=None):
        if not self.averaged:
            return
        for variable, mean in zip(self.network.trainable_weights, self.mean, strict=True):
            variable.assign(mean.astype(variable.dtype))


def remeasure_batch_statistics(network: keras.Model, batches: Iterable) -> int:
    """Set every batch-normalisation layer's moving mean and variance to the mean of its
    batch statistics over `batches` (images, or (images, targets) pairs), as the weights now
    in `network` compute them; returns how many batches were seen."""
    norms = [
        layer for layer in _layers(network) if isinstance(layer, keras.layers.BatchNormalization)
    ]
    kept = [layer.momentum for layer in norms]
    seen = 0
    try:
        for batch in batches:
            images = batch[0] if isinstance(batch, tuple) else batch
            seen += 1
            # Momentum (n - 1) / n makes the moving values the running mean of the n batches.
            for layer in norms:
                layer.momentum = (seen - 1) / seen
            network(images, training=True)
    finally:
        for layer, momentum in zip(norms, kept, strict=True):
            layer.momentum = momentum
    return seen


def _layers(network: keras.Model):
    for layer in network.layers:
        if isinstance(layer, keras.Model):
            yield from _layers(layer)
        else:
            yield layer
