"""The four classes the model knows, and how the public datasets name them."""

CLASSES = ("glioma", "meningioma", "no_tumor", "pituitary")
NO_TUMOR = "no_tumor"  # the one class that is not a tumour

# Folder names used by the two public datasets in shared/ (Sartaj and Nickparvar).
FOLDER_TO_CLASS = {
    "glioma": "glioma",
    "glioma_tumor": "glioma",
    "meningioma": "meningioma",
    "meningioma_tumor": "meningioma",
    "notumor": "no_tumor",
    "no_tumor": "no_tumor",
    "pituitary": "pituitary",
    "pituitary_tumor": "pituitary",
}
