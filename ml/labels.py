"""The classes the model knows, the kinds of image its recogniser tells apart, and how the
public datasets name them."""

CLASSES = ("glioma", "meningioma", "no_tumor", "pituitary", "other_tumour")
NO_TUMOR = "no_tumor"  # the one class that is not a tumour
TUMOUR_CLASSES = tuple(name for name in CLASSES if name != NO_TUMOR)
# A training image known to hold a tumour of unlabelled type (Br35H "yes"): it teaches only
# "not no_tumor" (ml.train's set-valued loss).
TUMOUR_OF_UNKNOWN_TYPE = "tumour"
# Models exported before the fifth class answer these four.
FOUR_CLASSES = ("glioma", "meningioma", "no_tumor", "pituitary")

# Folder names of the public datasets in shared/.
FOLDER_TO_CLASS = {
    "glioma": "glioma",
    "glioma_tumor": "glioma",
    "meningioma": "meningioma",
    "meningioma_tumor": "meningioma",
    "notumor": "no_tumor",
    "no_tumor": "no_tumor",
    "pituitary": "pituitary",
    "pituitary_tumor": "pituitary",
    "other_tumor": "other_tumour",
    "tumor": TUMOUR_OF_UNKNOWN_TYPE,
}

# The recogniser's kinds of image: (DICOM Modality, body part). Modalities are DICOM defined
# terms (PS3.3 C.7.3.1.1.1): MR, CT, DX (digital radiography), US, OP (ophthalmic
# photography), XC (external-camera photography) and SM (slide microscopy).
BRAIN_MRI = "brain_mri"
KINDS = {
    BRAIN_MRI: ("MR", "BRAIN"),
    "brain_ct": ("CT", "BRAIN"),
    "chest_ct": ("CT", "CHEST"),
    "abdominal_ct": ("CT", "ABDOMEN"),
    "chest_xray": ("DX", "CHEST"),
    "knee_or_bone_xray": ("DX", "KNEE"),
    "dental_xray": ("DX", "TEETH"),
    "ultrasound": ("US", "OTHER"),
    "fundus": ("OP", "EYE"),
    "dermoscopy": ("XC", "SKIN"),
    "histopathology": ("SM", "TISSUE"),
}
KIND_NAMES = tuple(KINDS)
# What a person reads in a refusal: "chest X-ray, 0.98".
KIND_DESCRIPTIONS = {
    BRAIN_MRI: "brain MRI",
    "brain_ct": "brain CT",
    "chest_ct": "chest CT",
    "abdominal_ct": "abdominal CT",
    "chest_xray": "chest X-ray",
    "knee_or_bone_xray": "knee or bone X-ray",
    "dental_xray": "dental X-ray",
    "ultrasound": "ultrasound",
    "fundus": "fundus photograph",
    "dermoscopy": "dermoscopy photograph",
    "histopathology": "histology slide",
}
BODY_PARTS = ("BRAIN", "CHEST", "ABDOMEN", "KNEE", "TEETH", "EYE", "SKIN", "TISSUE", "OTHER")
MODALITIES = ("MR", "CT", "DX", "US", "OP", "XC", "SM")


def modality_of(kind: str) -> str:
    return KINDS[kind][0]


def body_part_of(kind: str) -> str:
    return KINDS[kind][1]
