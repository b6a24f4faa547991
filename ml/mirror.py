"""The network seen twice: each head's logits averaged over the slice and its mirror.

TensorFlow only, no Keras import: the server's explain path imports this, and the server
never loads Keras (tests/reliability/test_launcher.py).
"""

from __future__ import annotations

import tensorflow as tf


def mirror_averaged_logits(network, batch):
    """Each head's logits averaged over the images and their left-right mirrors: a brain is
    nearly symmetric and a tumour is one on either side, so the two views should agree and
    their mean is steadier than either. `network` maps a batch [N, H, W, 1] to a list of
    outputs whose last two are the class and kind logits; the other outputs (features) are
    the unmirrored images'. Training's calibration and the exported model both call this."""
    outputs = list(network(batch, training=False))
    mirrored = network(tf.reverse(batch, axis=[2]), training=False)
    outputs[-2] = (outputs[-2] + mirrored[-2]) / 2.0
    outputs[-1] = (outputs[-1] + mirrored[-1]) / 2.0
    return outputs
