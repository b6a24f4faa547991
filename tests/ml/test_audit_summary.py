"""The audit's human summary: the CT suspects and the recogniser's disagreements are listed."""

from ml.audit import summary


def _report(ct_suspects: list[dict], disagreements: list[dict]) -> dict:
    return {
        "thresholds": {"phash_max_bits": 6, "thumbnail_correlation": 0.93},
        "images": 10,
        "byte_identical_groups": [],
        "pixel_identical_after_preprocessing_groups": [],
        "near_duplicate_groups": [],
        "images_in_near_duplicate_groups": 0,
        "groups_across_sartaj_training_and_testing": 0,
        "groups_across_datasets": 0,
        "label_conflicts": [],
        "sartaj_testing": {
            "images": 3,
            "near_identical_to_a_non_test_image": 1,
            "leak_free": 2,
            "non_test_images_excluded_from_training": 2,
        },
        "non_mri_suspects": [],
        "by_part_and_class": {"sartaj/Training/glioma": 5},
        "ct_suspects": ct_suspects,
        "recogniser_model": "models/brain-tumor-cnn/0.12.0",
        "recogniser_disagreements": disagreements,
    }


def test_the_summary_lists_each_ct_suspect_and_each_image_the_recogniser_calls_another_kind():
    suspects = [{"file": "sartaj/Training/no_tumor/1.jpg", "ct_probability": 0.97}]
    disagreements = [
        {
            "file": "sartaj/Testing/no_tumor/image(13).jpg",
            "recogniser": "brain_ct",
            "probability": 0.93,
            "brain_mri_probability": 0.05,
        }
    ]

    text = summary(_report(suspects, disagreements))

    assert "CT suspects in the brain-MRI sets" in text and ": 1" in text
    assert "- sartaj/Training/no_tumor/1.jpg (0.97)" in text
    assert "- sartaj/Testing/no_tumor/image(13).jpg: brain_ct 0.93 (brain MRI 0.05)" in text
