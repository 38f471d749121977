"""The pieces every napari-hdn widget uses, re-exported from their own small modules.

``_errors`` (notifications), ``_models`` (loading, summaries), ``_layout``,
``_task`` (the task panel running core generators in a worker), ``_layers``
(layer pickers and layer writing), ``_widget`` (the dock widgets' base).
No model logic lives here: a widget builds a core generator (noise-model fit,
training, restoration) and hands it to a :class:`TaskPanel`.
"""

from ._errors import log, report_error
from ._layers import (
    LayerChecklist,
    LayerChoice,
    _follow_layer_list,
    image_layers,
    layer_array,
    show_image,
)
from ._layout import discard_widget, form_page, hbox
from ._models import load_model_into, model_summary
from ._task import SHUTDOWN_WAIT_S, Outcome, TaskPanel, _guarded, attempt
from ._widget import HDNWidget

__all__ = [
    "HDNWidget",
    "LayerChecklist",
    "LayerChoice",
    "Outcome",
    "SHUTDOWN_WAIT_S",
    "TaskPanel",
    "_follow_layer_list",
    "_guarded",
    "attempt",
    "discard_widget",
    "form_page",
    "hbox",
    "image_layers",
    "layer_array",
    "load_model_into",
    "log",
    "model_summary",
    "report_error",
    "show_image",
]
