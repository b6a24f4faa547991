"""The codes a record's result is written in, shared by FHIR and DICOM SR.

Standard terminologies where a code means what medimg says, medimg's own scheme elsewhere:

- SNOMED CT body structures for the recogniser's body parts, as DICOM PS3.16 lists them
  (CID 4031 and others; the same values as pydicom's `codes.SCT`). OTHER has none.
- DICOM's own codes (DCM, CID 29 "Acquisition Modality") for the modalities: the code value
  is the DICOM defined term itself (MR, CT, DX, US, OP, XC, SM).
- SNOMED CT (International Edition) for the classes and findings a concept names: see
  CLASS_SNOMED and FINDING_SNOMED. "Another tumour type", "tumour suspected" and
  "indeterminate" have none, so they, and the image kinds, are in medimg's own scheme only.
  In FHIR every class keeps its medimg code too, as the first coding, so a reader can rely
  on one scheme; DICOM SR allows one code per value, so there the standard one is used.
"""

from dataclasses import dataclass

from ml.labels import KIND_DESCRIPTIONS

SNOMED_SYSTEM = "http://snomed.info/sct"
SNOMED_SCHEME = "SCT"
DICOM_SYSTEM = "http://dicom.nema.org/resources/ontology/DCM"
DICOM_SCHEME = "DCM"
# medimg's own codes: in FHIR a URN per value set, in DICOM one private coding scheme (PS3.16
# 8.2: "99" prefix) that the SR's Coding Scheme Identification Sequence describes.
CLASS_SYSTEM = "urn:medimg:brain-mri-class"
FINDING_SYSTEM = "urn:medimg:tumour-finding"
KIND_SYSTEM = "urn:medimg:image-kind"
OBSERVATION_SYSTEM = "urn:medimg:observation"
PRIVATE_SCHEME = "99MEDIMG"
PRIVATE_SCHEME_NAME = "medimg brain-MRI classes, tumour findings and image kinds"


@dataclass(frozen=True)
class Concept:
    code: str
    display: str


# No evidence of neoplasm (finding); the MII oncology module maps "kein Tumor
# nachweisbar" to it as equivalent (SNOMED CT International 2024-04-01).
NO_EVIDENCE_OF_NEOPLASM = Concept("58899004", "No evidence of neoplasm")
# The standard concept of each class that has one, by its preferred term.
CLASS_SNOMED = {
    # Glioma (disorder).
    "glioma": Concept("393564001", "Glioma"),
    # Intracranial meningioma (disorder): the training images are of intracranial ones.
    "meningioma": Concept("302820008", "Intracranial meningioma"),
    # Pituitary adenoma (disorder): the datasets' "pituitary tumour" class, which is the
    # adenoma in all but a few per cent of pituitary tumours; a reviewer who knows
    # otherwise corrects the class.
    "pituitary": Concept("254956000", "Pituitary adenoma"),
    "no_tumor": NO_EVIDENCE_OF_NEOPLASM,
}
# The tumour-first finding's values that a concept names.
FINDING_SNOMED = {"no_tumour": NO_EVIDENCE_OF_NEOPLASM}
# DICOM CID 29 code meanings (pydicom `codes.DCM.MagneticResonance` and so on).
MODALITY_DISPLAY = {
    "MR": "Magnetic Resonance",
    "CT": "Computed Tomography",
    "DX": "Digital Radiography",
    "US": "Ultrasound",
    "OP": "Ophthalmic Photography",
    "XC": "External-camera Photography",
    "SM": "Slide Microscopy",
}
# SNOMED CT body structures (pydicom `codes.SCT.Brain` and so on).
BODY_PART_SNOMED = {
    "BRAIN": Concept("12738006", "Brain"),
    "CHEST": Concept("816094009", "Chest"),
    "ABDOMEN": Concept("818981001", "Abdomen"),
    "KNEE": Concept("72696002", "Knee"),
    "TEETH": Concept("38199008", "Tooth"),
    "EYE": Concept("81745001", "Eye"),
    "SKIN": Concept("39937001", "Skin"),
    "TISSUE": Concept("85756007", "Tissue"),
}


def display(name: str) -> str:
    """A class or finding as words: "no_tumor" -> "no tumor", "tumour_suspected" ->
    "tumour suspected"."""
    return name.replace("_", " ")


def kind_display(kind: str) -> str:
    return KIND_DESCRIPTIONS.get(kind, kind.replace("_", " "))


def modality_display(modality: str) -> str:
    return MODALITY_DISPLAY.get(modality, modality)
