"""The names an exported model directory and its SavedModel signatures go by.

Shared by the exporter and the server; kept free of TensorFlow and Keras so that importing
them costs the server nothing.
"""

METADATA_FILE = "metadata.json"
# Batches images of different sizes (padded, with their true sizes); see ml.export.ServingModule.
PADDED_SIGNATURE = "serve_padded"
# Grad-CAM of the predicted class for one image, on its own pixel grid; see ml/explain.py.
EXPLAIN_SIGNATURE = "explain"
