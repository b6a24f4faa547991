"""The changes ml.look_check makes to probe images: what each keeps and what it takes."""

import numpy as np
import pytest

from ml.look_check import changes, head_quantiles, match_intensities


def _slice(seed: int, gamma: float) -> np.ndarray:
    """A bright disc of textured 'tissue' on black air."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:128, :128]
    head = (yy - 64) ** 2 + (xx - 64) ** 2 < 50**2
    tissue = rng.uniform(0.2, 1.0, (128, 128)) ** gamma
    return np.where(head, np.round(255 * tissue), 0).astype(np.uint8)


def test_matching_gives_the_head_the_reference_intensities_and_keeps_the_air_black():
    image, reference = _slice(0, gamma=1.0), head_quantiles(_slice(1, gamma=3.0))

    matched = match_intensities(image, reference)

    reference_median = reference[len(reference) // 2]
    assert np.all(matched[image == 0] == 0)
    assert np.median(matched[image > 0]) == pytest.approx(reference_median, abs=3)
    assert np.median(image[image > 0]) > reference_median + 30


def test_matching_keeps_the_order_of_the_head_pixels():
    image = _slice(2, gamma=1.0)
    matched = match_intensities(image, head_quantiles(_slice(3, gamma=2.0)))

    order = np.argsort(image[image > 0], kind="stable")
    assert np.all(np.diff(matched[image > 0][order].astype(int)) >= 0)


@pytest.mark.parametrize("name", list(changes(np.linspace(0, 255, 257))))
def test_every_change_returns_an_image_of_the_same_size_and_type(name):
    image = _slice(4, gamma=1.0)

    changed = changes(head_quantiles(_slice(5, gamma=2.0)))[name](image)

    assert changed.shape == image.shape and changed.dtype == np.uint8
    assert not np.array_equal(changed, image)
