"""Inside the model: explanations of one reading, computed with Keras and TensorFlow
directly (no explainer library), in the model reader process, never the web server.

Every function takes a loaded model (`Predictor.model`) and returns numpy arrays in
small dataclasses (`core.explain.results`), each with a one-line caption a page can
show. Importing this package imports neither Keras nor TensorFlow.

- `attributions`: where the model looked (integrated gradients; Grad-CAM for CNNs).
- `inside`: feature maps and filters (CNN), first-layer units (dense), the reading
  after every row (SimpleRNN, LSTM, GRU).
- `digit_map`: a 2-D map of the last hidden layer for 2,000 test digits (PCA).
- `words`: each word's contribution to a sentiment verdict, and the reading as the
  review goes on.
- `views`: every view of one image or review in one call (what the reader answers).
"""

from core.explain.attributions import (
    class_logits,
    grad_cam,
    grad_cam_batch,
    integrated_gradients,
    integrated_gradients_batch,
)
from core.explain.digit_map import (
    build_digit_map,
    cached_digit_map,
    digit_map_for_run,
    map_view,
    place_on_map,
)
from core.explain.inside import dense_units, feature_maps, first_layer_filters, reads_row_by_row, row_reading
from core.explain.results import (
    Attribution,
    DenseUnits,
    DigitMap,
    Filters,
    LayerMaps,
    MapView,
    RowReading,
    WordReading,
    pack,
    unpack,
)
from core.explain.views import IMAGE_VIEWS, available_views, explain_image, explain_text
from core.explain.words import read_review

__all__ = [
    "IMAGE_VIEWS",
    "Attribution",
    "DenseUnits",
    "DigitMap",
    "Filters",
    "LayerMaps",
    "MapView",
    "RowReading",
    "WordReading",
    "available_views",
    "build_digit_map",
    "cached_digit_map",
    "class_logits",
    "dense_units",
    "digit_map_for_run",
    "explain_image",
    "explain_text",
    "feature_maps",
    "first_layer_filters",
    "grad_cam",
    "grad_cam_batch",
    "integrated_gradients",
    "integrated_gradients_batch",
    "map_view",
    "pack",
    "place_on_map",
    "read_review",
    "reads_row_by_row",
    "row_reading",
    "unpack",
]
