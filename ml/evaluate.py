"""Score an exported model on held-out images, through the SavedModel and the input gate.

Images are decoded from their files by `ml.decode`, classified by `ml.inference` and judged
by `ml.ood.assess`, exactly as the API does, so the reported figures are the served
model's figures: what a radiologist would have been shown.

Per image: the finding, the class, the recogniser's kind and the gate's suitability. Per set:
- tumour sensitivity: tumours labelled a tumour class (among all the set's tumours);
- specificity: normals labelled no_tumor (the label leans inside the indeterminate band,
  ml.finding; for models without a label threshold it is no_tumor exactly when the finding
  is `no_tumour`);
- rule-out sensitivity: tumours whose finding is not `no_tumour`;
- tumour AUROC: how well the tumour probability ranks tumours above normals, whatever the
  thresholds;
- confident misses: tumours answered `no_tumour`, or labelled no_tumor with suitability ok;
- refused: images the gate called out_of_distribution;
- class accuracy and macro-F1 over the typed images (the four classes of Sartaj Testing);
- modality and body-part accuracy of the recogniser.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score, roc_auc_score

from ml.datasets import Sample
from ml.decode import decode_image
from ml.finding import Finding
from ml.inference import Classifier
from ml.labels import CLASSES, NO_TUMOR, body_part_of, modality_of
from ml.metrics import expected_calibration_error
from ml.ood import Suitability, assess

BATCH = 64


@dataclass(frozen=True)
class Row:
    """One scored image."""

    key: str
    origin: str
    truth: str | None  # the sample's label
    kind: str  # the sample's kind
    label: str  # the model's class
    probabilities: tuple[float, ...]
    tumour_probability: float
    finding: str
    predicted_kind: str
    suitability: str


def score_files(classifier: Classifier, samples: list[Sample], kinds=None) -> list[Row]:
    """Each sample through decode, the model and the gate; `kinds` overrides the true kind
    (a CT suspect of a brain-MRI set is scored as CT)."""
    rows = []
    for start in range(0, len(samples), BATCH):
        chunk = samples[start : start + BATCH]
        raw = [sample.path.read_bytes() for sample in chunk]
        images = [decode_image(data) for data in raw]
        predictions = classifier.predict_batch([image.pixels for image in images])
        for offset, (sample, data, image, prediction) in enumerate(
            zip(chunk, raw, images, predictions, strict=True)
        ):
            gate = assess(
                data,
                prediction.gate_features,
                classifier.density,
                image,
                kind=prediction.kind,
                finding=prediction.finding,
                tumour_probability=prediction.tumour_probability,
            )
            rows.append(
                Row(
                    key=sample.key,
                    origin=sample.origin,
                    truth=sample.label,
                    kind=kinds[start + offset] if kinds is not None else sample.kind,
                    label=prediction.label,
                    probabilities=tuple(prediction.probabilities[c] for c in CLASSES),
                    tumour_probability=float(prediction.tumour_probability),
                    finding=str(prediction.finding),
                    predicted_kind=prediction.kind.kind,
                    suitability=str(gate.suitability),
                )
            )
    return rows


def _is_tumour(row: Row) -> bool:
    return row.truth is not None and row.truth != NO_TUMOR


def _confident_miss(row: Row) -> bool:
    return row.finding == Finding.NO_TUMOUR or (
        row.label == NO_TUMOR and row.suitability == Suitability.OK
    )


def _share(flags: list[bool]) -> float | None:
    return float(np.mean(flags)) if flags else None


def tumour_figures(rows: list[Row]) -> dict:
    """The figures of the module's docstring over a set's brain-MRI rows."""
    tumours = [r for r in rows if _is_tumour(r)]
    normals = [r for r in rows if r.truth == NO_TUMOR]
    typed = [r for r in rows if r.truth in CLASSES]
    figures = {
        "images": len(rows),
        "tumours": len(tumours),
        "normals": len(normals),
        "sensitivity": _share([r.label != NO_TUMOR for r in tumours]),
        "specificity": _share([r.label == NO_TUMOR for r in normals]),
        "rule_out_sensitivity": _share([r.finding != Finding.NO_TUMOUR for r in tumours]),
        "confident_miss_rate": _share([_confident_miss(r) for r in tumours]),
        "indeterminate": _share([r.finding == Finding.INDETERMINATE for r in rows]),
        "refused": _share([r.suitability == Suitability.OUT_OF_DISTRIBUTION for r in rows]),
        "findings": {f.value: sum(r.finding == f for r in rows) for f in Finding},
        "tumour_auroc": _auroc(tumours, normals),
    }
    if typed:
        figures.update(class_figures(typed))
    return figures


def _auroc(tumours: list[Row], normals: list[Row]) -> float | None:
    if not tumours or not normals:
        return None
    scores = [r.tumour_probability for r in tumours + normals]
    return float(roc_auc_score([1] * len(tumours) + [0] * len(normals), scores))


def class_figures(rows: list[Row]) -> dict:
    """Accuracy, macro-F1 over the classes the rows hold, confusion and calibration."""
    truth = np.array([CLASSES.index(r.truth) for r in rows])
    predicted = np.array([CLASSES.index(r.label) for r in rows])
    present = sorted(set(truth.tolist()))
    confusion = np.zeros((len(CLASSES), len(CLASSES)), int)
    np.add.at(confusion, (truth, predicted), 1)
    return {
        "accuracy": float(np.mean(truth == predicted)),
        "macro_f1": float(f1_score(truth, predicted, labels=present, average="macro")),
        "ece": expected_calibration_error(truth, np.array([r.probabilities for r in rows])),
        "confusion_matrix": confusion.tolist(),
        "per_class_recall": {
            CLASSES[k]: float(np.mean(predicted[truth == k] == k)) for k in present
        },
    }


def kind_figures(rows: list[Row]) -> dict:
    """The recogniser's figures: modality and body part accuracy, and what the gate refused."""
    return {
        "images": len(rows),
        "modality_accuracy": _share(
            [modality_of(r.predicted_kind) == modality_of(r.kind) for r in rows]
        ),
        "body_part_accuracy": _share(
            [body_part_of(r.predicted_kind) == body_part_of(r.kind) for r in rows]
        ),
        "refused": _share([r.suitability == Suitability.OUT_OF_DISTRIBUTION for r in rows]),
    }


def figures_by(rows: list[Row], attribute: str) -> dict:
    """{value: figures} for each value of a Row attribute (origin or kind)."""
    values = sorted({getattr(r, attribute) for r in rows})
    result = {}
    for value in values:
        chosen = [r for r in rows if getattr(r, attribute) == value]
        brain = all(r.kind == "brain_mri" for r in chosen)
        result[value] = tumour_figures(chosen) if brain else kind_figures(chosen)
    return result


def evaluate_exported(model_dir: Path, samples: list[Sample], plan, targets) -> dict:
    """The served model's figures: Sartaj Testing (whole and leak-free, every image as the
    brain MRI its folder says), its CT suspects as CT, the validation split by origin and
    by kind, and each held-out origin."""
    classifier = Classifier.load(model_dir)

    def rows_of(indices, kinds=None) -> list[Row]:
        return score_files(classifier, [samples[i] for i in indices], kinds)

    test_rows = rows_of(plan.test)
    leak_free = {samples[i].key for i in plan.test_leak_free}
    suspects = np.intersect1d(plan.test, targets.ct_suspects)
    suspect_keys = {samples[i].key for i in suspects}
    evaluation = {
        "sartaj_testing": tumour_figures(test_rows),
        "sartaj_testing_mri_refused": tumour_figures(
            [r for r in test_rows if r.key not in suspect_keys]
        )["refused"],
        "sartaj_testing_leak_free": tumour_figures([r for r in test_rows if r.key in leak_free]),
        "sartaj_testing_ct_suspects": kind_figures(rows_of(suspects, ["brain_ct"] * len(suspects))),
    }
    validation_rows = rows_of(plan.validation)
    evaluation["validation_by_origin"] = figures_by(validation_rows, "origin")
    evaluation["validation_by_kind"] = figures_by(validation_rows, "kind")
    if len(plan.held_out):
        held_rows = rows_of(plan.held_out)
        evaluation["held_out_by_origin"] = figures_by(held_rows, "origin")
        evaluation["held_out_by_kind"] = figures_by(held_rows, "kind")
    return evaluation
