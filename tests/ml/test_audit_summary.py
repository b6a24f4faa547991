"""The audit's human summary: the class-by-look table, the excluded near-copies included."""

from ml.audit import summary


def _report(looks: dict) -> dict:
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
        "looks": looks,
    }


def test_each_class_gets_its_pool_excluded_and_testing_counts_by_look():
    looks = {
        "training_pool": {"glioma": {"figshare_512": 5, "other": 0}},
        "excluded_near_copies_of_test": {"meningioma": {"figshare_512": 0, "other": 2}},
        "sartaj_testing": {"glioma": {"figshare_512": 1, "other": 2}},
    }

    text = summary(_report(looks))

    assert "| glioma | 5 | 0 | 0 | 0 | 1 | 2 |" in text
    assert "| meningioma | 0 | 0 | 0 | 2 | 0 | 0 |" in text
    assert "excluded: other" in text
