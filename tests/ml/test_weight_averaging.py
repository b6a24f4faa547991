import keras
import numpy as np

from ml.averaging import WeightAveraging, remeasure_batch_statistics
from ml.train import _schedule


class WeightsAfterEachStep(keras.callbacks.Callback):
    def __init__(self, network):
        super().__init__()
        self.network = network
        self.seen: list[list[np.ndarray]] = []

    def on_train_batch_end(self, batch, logs=None):
        self.seen.append([v.numpy().copy() for v in self.network.trainable_weights])


def test_training_ends_with_the_mean_of_the_weights_after_each_step_from_the_first_averaged():
    keras.utils.set_random_seed(3)
    network = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(1)])
    network.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    x, y = np.random.default_rng(0).normal(size=(2, 40, 4)).astype(np.float32)
    recorder = WeightsAfterEachStep(network)
    network.fit(
        x,
        y[:, :1],
        batch_size=8,
        epochs=2,
        verbose=0,
        callbacks=[recorder, WeightAveraging(network, first_step=4)],
    )

    assert len(recorder.seen) == 10
    expected = [np.mean(step, axis=0) for step in zip(*recorder.seen[4:], strict=True)]
    for variable, mean in zip(network.trainable_weights, expected, strict=True):
        np.testing.assert_allclose(variable.numpy(), mean, rtol=1e-5, atol=1e-6)
    assert not np.allclose(network.trainable_weights[0].numpy(), recorder.seen[-1][0])


def test_batch_statistics_become_the_mean_over_the_batches_and_the_momentum_is_kept():
    network = keras.Sequential(
        [keras.Input((5,)), keras.Sequential([keras.layers.BatchNormalization()])]
    )
    norm = network.layers[0].layers[0]
    batches = [
        np.random.default_rng(seed).normal(seed, 1 + seed, size=(16, 5)).astype(np.float32)
        for seed in range(3)
    ]

    seen = remeasure_batch_statistics(network, ((b, None) for b in batches))

    assert seen == 3
    np.testing.assert_allclose(
        norm.moving_mean.numpy(), np.mean([b.mean(axis=0) for b in batches], axis=0), rtol=1e-5
    )
    np.testing.assert_allclose(
        norm.moving_variance.numpy(),
        np.mean([b.var(axis=0) for b in batches], axis=0),
        rtol=1e-4,
    )
    assert norm.momentum == 0.99


def test_with_averaging_the_rate_decays_to_a_steady_share_of_the_peak_before_the_averaged_steps():
    plain, averaged = _schedule(1.0, 100, 0), _schedule(1.0, 100, 40)

    assert float(plain(0)) == 1.0 and float(plain(100)) < 1e-6
    assert float(averaged(0)) == 1.0
    for step in (60, 80, 99):
        np.testing.assert_allclose(float(averaged(step)), 0.2, rtol=1e-6)
