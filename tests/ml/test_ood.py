"""The input gate: feature-space distance, DICOM header and colour, and which cue wins."""

import io
from pathlib import Path

import cv2
import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from sklearn.datasets import load_sample_images

from api.settings import Settings
from ml.datasets import list_samples
from ml.decode import DecodedImage, decode_image
from ml.finding import Finding
from ml.inference import Classifier
from ml.ood import (
    OUTLIERS_FLAGGED,
    FeatureDensity,
    Suitability,
    assess,
    brightest_percentile,
    colour_cue,
    dark_border_share,
    header_cue,
    is_framed,
    outlier_exposure_limit,
    tight_crop_limit,
    tight_crops,
)

GATED_MODEL = Settings(_env_file=None).model_dir  # the served model


def clusters(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Four well-separated Gaussian classes in 8 dimensions."""
    labels = rng.integers(0, 4, n)
    centres = np.eye(4, 8) * 10.0
    return centres[labels] + rng.normal(0, 1, (n, 8)), labels


def outliers(rng: np.random.Generator, n: int) -> np.ndarray:
    """Points between and beyond the classes: development non-MRI stand-ins."""
    return rng.normal(0, 1, (n, 8)) * rng.uniform(2.0, 8.0, (n, 1)) + 5.0


@pytest.fixture(scope="module")
def density() -> FeatureDensity:
    rng = np.random.default_rng(0)
    train, labels = clusters(rng, 2000)
    validation, _ = clusters(rng, 1000)
    framed = rng.random(100) < 0.5
    return FeatureDensity.fit(train, labels, validation, outliers(rng, 100), framed)


def dicom_bytes(name: str, **tags: str) -> bytes:
    dataset = pydicom.dcmread(get_testdata_file(name))
    for keyword, value in tags.items():
        setattr(dataset, keyword, value)
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def header_of(name: str, **tags: str) -> dict[str, str] | None:
    """The header attributes decoding reads from a real pydicom file, with tags changed."""
    return decode_image(dicom_bytes(name, **tags)).dicom_header


def jpeg(pixels: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", pixels)[1].tobytes()


def test_points_near_a_class_are_ok_and_far_ones_are_out_of_distribution(density):
    near = np.eye(4, 8)[2] * 10.0 + 0.1
    far = np.full(8, 30.0)

    assert density.judge(near).suitability == Suitability.OK
    verdict = density.judge(far)
    assert verdict.suitability == Suitability.OUT_OF_DISTRIBUTION
    assert verdict.score > density.out_of_distribution_above
    assert "far from every brain-MRI slice" in verdict.reason


def test_the_thresholds_flag_about_the_chosen_share_of_in_distribution_data(density):
    fresh, _ = clusters(np.random.default_rng(1), 4000)
    scores = density.scores(fresh)

    assert density.low_confidence_above < density.out_of_distribution_above
    assert 0.01 < np.mean(scores > density.low_confidence_above) < 0.05
    assert np.mean(scores > density.out_of_distribution_above) < 0.015


def test_the_framed_limit_is_the_largest_that_still_flags_the_target_share_of_outliers():
    rng = np.random.default_rng(3)
    scores = rng.uniform(20.0, 60.0, 200)
    framed = rng.random(200) < 0.5
    limit = outlier_exposure_limit(scores, framed, unframed_limit=10.0, floor=12.0)

    flagged = np.where(framed, scores > limit, scores > 10.0)
    assert np.mean(flagged) >= OUTLIERS_FLAGGED
    lowest_flagged = np.min(scores[framed & (scores > limit)])
    assert np.mean(np.where(framed, scores > lowest_flagged, flagged)) < OUTLIERS_FLAGGED


def test_the_framed_limit_never_drops_below_the_in_distribution_floor():
    scores = np.array([5.0, 6.0, 7.0, 30.0])

    assert outlier_exposure_limit(scores, np.ones(4, bool), unframed_limit=4.0, floor=12.0) == 12.0


def test_an_unframed_image_at_a_low_confidence_distance_is_out_of_distribution(density):
    between = density.low_confidence_above + 0.3 * (
        density.out_of_distribution_above - density.low_confidence_above
    )
    point = np.eye(4, 8)[1] * 10.0
    point[5] = _offset_for(density, point, between)

    assert density.judge(point, framed=True).suitability == Suitability.LOW_CONFIDENCE
    unframed = density.judge(point, framed=False)
    assert unframed.suitability == Suitability.OUT_OF_DISTRIBUTION
    assert "no dark background" in unframed.reason and unframed.relative_score > 1.0


def _offset_for(density: FeatureDensity, point: np.ndarray, distance: float) -> float:
    """The value along one axis that puts point at the given distance (bisection)."""
    low, high = 0.0, 100.0
    for _ in range(60):
        middle = (low + high) / 2.0
        moved = point.copy()
        moved[5] = middle
        low, high = (middle, high) if density.scores(moved)[0] < distance else (low, middle)
    return low


def test_a_head_on_a_dark_background_is_framed_and_noise_and_photos_are_not():
    head = np.zeros((256, 256), np.uint8)
    cv2.ellipse(head, (128, 128), (90, 110), 0, 0, 360, 140, -1)
    noise = np.random.default_rng(4).integers(0, 256, (256, 256), dtype=np.uint8)
    photo = cv2.cvtColor(load_sample_images().images[1], cv2.COLOR_RGB2GRAY)

    assert dark_border_share(head) == 1.0 and is_framed(head)
    assert not is_framed(noise)
    assert not is_framed(photo)


def test_the_histogram_percentile_matches_numpys_on_real_and_edge_case_images(
    dataset_dir: Path,
):
    slices = [decode_image(s.path.read_bytes()).pixels for s in list_samples(dataset_dir)[::97]]
    rng = np.random.default_rng(5)
    edge_cases = [
        np.zeros((7, 5), np.uint8),
        np.full((3, 3), 255, np.uint8),
        np.array([[0, 255]], np.uint8),
        rng.integers(0, 256, (101, 13), dtype=np.uint8),
    ]

    for pixels in slices + edge_cases:
        expected = np.percentile(pixels.astype(np.float64), 99)
        assert brightest_percentile(pixels) == pytest.approx(expected, abs=1e-9)


def test_nearly_every_training_source_mri_slice_is_framed(dataset_dir: Path):
    pool = [s for s in list_samples(dataset_dir) if not s.is_sartaj_test]
    chosen = pool[:: max(1, len(pool) // 300)]
    framed = [is_framed(decode_image(s.path.read_bytes()).pixels) for s in chosen]

    # Measured: 97 % of the validation split; the rest are slices cropped tight to the skull.
    assert np.mean(framed) >= 0.9


def test_the_statistics_survive_saving_and_loading(density, tmp_path: Path):
    density.save(tmp_path)
    loaded = FeatureDensity.load(tmp_path)
    points, _ = clusters(np.random.default_rng(2), 50)

    np.testing.assert_allclose(loaded.scores(points), density.scores(points), rtol=1e-4)
    assert loaded.out_of_distribution_above == density.out_of_distribution_above
    assert FeatureDensity.load(tmp_path / "elsewhere") is None


def test_a_ct_header_is_out_of_distribution_whatever_the_pixels():
    verdict = header_cue(header_of("CT_small.dcm"))

    assert verdict.suitability == Suitability.OUT_OF_DISTRIBUTION
    assert "Modality CT" in verdict.reason


def test_a_hostile_header_value_reaches_the_reason_only_as_short_printable_text():
    verdict = header_cue(header_of("CT_small.dcm", Modality="C\x00T" + "X" * 100))

    assert verdict.suitability == Suitability.OUT_OF_DISTRIBUTION
    assert "\x00" not in verdict.reason
    assert "Modality CTXXX" in verdict.reason
    assert "X" * 40 not in verdict.reason


def test_an_mr_of_another_body_part_is_out_of_distribution_and_a_brain_mr_passes():
    knee = header_cue(header_of("MR_small.dcm", BodyPartExamined="KNEE"))

    assert knee.suitability == Suitability.OUT_OF_DISTRIBUTION and "KNEE" in knee.reason
    assert header_cue(header_of("MR_small.dcm", BodyPartExamined="BRAIN")) is None
    assert header_cue(header_of("MR_small.dcm")) is None


def test_files_without_a_dicom_header_leave_the_header_cue_silent():
    assert decode_image(jpeg(np.zeros((20, 20), np.uint8))).dicom_header is None
    assert header_cue(None) is None


def test_a_colour_photo_and_a_colour_ultrasound_are_out_of_distribution():
    photo = cv2.cvtColor(load_sample_images().images[0], cv2.COLOR_RGB2BGR)

    assert colour_cue(decode_image(jpeg(photo)).chroma).suitability == (
        Suitability.OUT_OF_DISTRIBUTION
    )
    ultrasound = decode_image(Path(get_testdata_file("US1_UNCI.dcm")).read_bytes())
    assert colour_cue(ultrasound.chroma).suitability == Suitability.OUT_OF_DISTRIBUTION


def test_a_grey_slice_saved_as_a_three_channel_jpeg_is_not_colour():
    grey = np.zeros((64, 64), np.uint8)
    cv2.circle(grey, (32, 32), 20, 150, -1)

    assert colour_cue(decode_image(jpeg(cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR))).chroma) is None


def test_the_most_severe_cue_decides_and_the_feature_score_is_kept(density):
    typical = np.eye(4, 8)[0] * 10.0
    blank = DecodedImage(
        np.zeros((64, 64), np.uint8),
        "application/dicom",
        64,
        64,
        dicom_header=header_of("CT_small.dcm"),
    )
    verdict = assess(dicom_bytes("CT_small.dcm"), typical, density, blank)

    assert verdict.suitability == Suitability.OUT_OF_DISTRIBUTION
    assert verdict.cue == "header"
    assert verdict.score == pytest.approx(density.judge(typical).score)


def test_without_statistics_the_gate_still_applies_the_header_and_colour_cues():
    grey = jpeg(np.full((32, 32), 90, np.uint8))

    assert assess(grey, np.zeros(8), None).suitability == Suitability.OK
    assert assess(dicom_bytes("CT_small.dcm"), np.zeros(8), None).suitability == (
        Suitability.OUT_OF_DISTRIBUTION
    )


def test_an_indeterminate_finding_makes_an_otherwise_ok_answer_low_confidence():
    grey = jpeg(np.full((32, 32), 90, np.uint8))
    unsure = assess(grey, np.zeros(8), None, finding=Finding.INDETERMINATE, tumour_probability=0.4)
    assert unsure.suitability == Suitability.LOW_CONFIDENCE
    assert unsure.cue == "finding" and "0.40" in unsure.reason
    for clear in (Finding.NO_TUMOUR, Finding.TUMOUR_SUSPECTED):
        verdict = assess(grey, np.zeros(8), None, finding=clear, tumour_probability=0.4)
        assert verdict.suitability == Suitability.OK


def test_an_indeterminate_finding_never_softens_a_refusal():
    verdict = assess(
        dicom_bytes("CT_small.dcm"),
        np.zeros(8),
        None,
        finding=Finding.INDETERMINATE,
        tumour_probability=0.4,
    )
    assert verdict.suitability == Suitability.OUT_OF_DISTRIBUTION


@pytest.mark.slow
def test_the_gated_model_calls_random_noise_out_of_distribution():
    if not (GATED_MODEL / "ood.npz").exists():
        pytest.skip(f"{GATED_MODEL} has no gate statistics: train it with python -m ml.train")
    classifier = Classifier.load(GATED_MODEL)
    rng = np.random.default_rng(5)

    for _ in range(3):
        noise = cv2.imencode(".png", rng.integers(0, 256, (256, 256), dtype=np.uint8))[1]
        data = noise.tobytes()
        prediction = classifier.predict(decode_image(data).pixels)
        verdict = assess(data, prediction.gate_features, classifier.density, kind=prediction.kind)
        assert verdict.suitability == Suitability.OUT_OF_DISTRIBUTION, verdict.reason


def test_the_unframed_limit_lets_tight_crops_through_but_no_unframed_outlier():
    crops = np.linspace(10.0, 20.0, 101)
    assert tight_crop_limit(crops, np.array([40.0, 50.0]), low=8.0) == pytest.approx(19.9)
    assert tight_crop_limit(crops, np.array([15.0, 50.0]), low=8.0) < 15.0
    assert tight_crop_limit(crops, np.array([5.0]), low=8.0) == 8.0


def test_an_unframed_image_within_the_tight_crop_limit_is_low_confidence_not_refused():
    rng = np.random.default_rng(5)
    train, labels = clusters(rng, 2000)
    validation, _ = clusters(rng, 1000)
    crops = validation * 1.6  # farther out than whole slices, as tight crops are
    fitted = FeatureDensity.fit(
        train, labels, validation, outliers(rng, 100), rng.random(100) < 0.5, crops
    )
    assert fitted.low_confidence_above < fitted.limit(framed=False)
    point = np.eye(4, 8)[1] * 10.0
    between = (fitted.low_confidence_above + fitted.limit(framed=False)) / 2.0
    point[5] = _offset_for(fitted, point, between)

    assert fitted.judge(point, framed=False).suitability == Suitability.LOW_CONFIDENCE
    point[5] = _offset_for(fitted, point, fitted.limit(framed=False) * 1.2)
    assert fitted.judge(point, framed=False).suitability == Suitability.OUT_OF_DISTRIBUTION


def test_a_gate_saved_before_the_unframed_limit_loads_with_the_low_confidence_one(
    density, tmp_path: Path
):
    np.savez(
        tmp_path / "ood.npz",
        means=density.blocks[0].means,
        precision=density.blocks[0].precision,
        thresholds=np.array([density.low_confidence_above, density.out_of_distribution_above]),
    )
    loaded = FeatureDensity.load(tmp_path)
    assert loaded.limit(framed=False) == pytest.approx(density.low_confidence_above)


def test_tight_crops_of_framed_slices_cut_the_dark_frame_away():
    heads = np.zeros((3, 128, 128), np.uint8)
    for head in heads:
        cv2.ellipse(head, (64, 64), (60, 62), 0, 0, 360, 140, -1)
    crops = tight_crops(heads)

    assert crops.shape == heads.shape and crops.dtype == np.uint8
    assert all(is_framed(head) for head in heads)
    assert not any(is_framed(crop) for crop in crops)


def test_two_blocks_add_their_distances_each_in_units_of_its_median_validation_distance():
    rng = np.random.default_rng(6)
    train, labels = clusters(rng, 2000)
    validation, _ = clusters(rng, 1000)
    wide = np.hstack([train, 3.0 * train])  # a second block on another scale
    wide_validation = np.hstack([validation, 3.0 * validation])
    two = FeatureDensity.fit(
        wide,
        labels,
        wide_validation,
        outliers(rng, 100).repeat(2, axis=1),
        np.ones(100, bool),
        block_widths=(8, 8),
    )
    points, _ = clusters(np.random.default_rng(7), 50)
    first, second = two.blocks

    assert np.median(first.distances(validation)) == pytest.approx(1.0)
    assert np.median(second.distances(3.0 * validation)) == pytest.approx(1.0)
    np.testing.assert_allclose(
        two.scores(np.hstack([points, 3.0 * points])),
        first.distances(points) + second.distances(3.0 * points),
    )


def test_features_of_another_width_than_the_statistics_are_refused(density):
    with pytest.raises(ValueError, match="9 gate features"):
        density.scores(np.zeros(9))


def test_a_gate_saved_before_blocks_loads_as_one_unscaled_block(density, tmp_path: Path):
    block = density.blocks[0]
    np.savez(
        tmp_path / "ood.npz",
        means=block.means,
        precision=block.precision,
        thresholds=np.array([1.0, 2.0, 1.5]),
    )
    loaded = FeatureDensity.load(tmp_path)
    points, _ = clusters(np.random.default_rng(8), 20)

    assert len(loaded.blocks) == 1 and loaded.blocks[0].scale == 1.0
    np.testing.assert_allclose(
        loaded.scores(points), block.distances(points) * block.scale, rtol=1e-4
    )
