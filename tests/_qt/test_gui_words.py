"""Messages in the widgets' words: the control to click, never a command line or an API call."""

from __future__ import annotations

import numpy as np
import pytest
from core_hints import HINTS
from qt_helpers import click_refused_or_run, dock, noisy_stack

from napari_hdn._qt._errors import report_error
from napari_hdn._qt.gui_words import gui_message, has_code
from napari_hdn.foundation.errors import FileFormatError, InputError

pytestmark = pytest.mark.qt


def core_messages() -> list[str]:
    """The core's messages that name a command or a function (what the API and the CLI show)."""
    from napari_hdn.noise_models.pairs import checked_stack
    from napari_hdn.noise_models.stack_check import check_static_stack

    shown = []
    for bad in (lambda: checked_stack(np.zeros((8, 8), np.float32)),
                lambda: check_static_stack(moving_stack())):
        with pytest.raises(InputError) as err:
            bad()
        shown.append(str(err.value))
    shown += [message for message, _ in HINTS]
    return shown


def moving_stack() -> np.ndarray:
    """Frames of a sample that changes from frame to frame: not repeats of one scene."""
    base = noisy_stack(1)[0]
    return np.stack([base * (1 + 0.5 * k) for k in range(8)]).astype(np.float32)


def test_the_core_hints_become_controls_to_click(messages):
    for message in core_messages():
        # the test's premise: the core names a call or an argument there, which the widgets translate
        assert has_code(message) or gui_message(message) != message, message
        shown = report_error(InputError(message), "Doing")
        assert not has_code(shown), shown
    assert "Train the one-pass denoiser" in gui_message(core_messages()[3])
    assert "Noisy images only" in gui_message(core_messages()[1])
    assert "Noisy image + pseudo-clean image" in gui_message(core_messages()[0])
    assert "one-pass denoiser" in report_error(FileFormatError(core_messages()[3]), "Loading")


def test_plain_messages_are_not_taken_for_code():
    for text in ("/tmp/run/model.json is not a napari-hdn model description.", "Restored 'noisy' (z1 off).",
                 "Training failed unexpectedly (ValueError: x). The full traceback is in the log."):
        assert not has_code(text), text


@pytest.mark.parametrize(("stack", "control"), [(lambda: noisy_stack(1)[0], "Noisy image + pseudo-clean image"),
                                                (moving_stack, "Noisy images only")])
def test_calibration_refusals_name_the_source_to_choose(qtbot, viewer, messages, stack, control):
    viewer.add_image(stack(), name="data")
    widget = dock(viewer, "Noise model")
    widget.set_source("stack")
    widget.set_kind("gaussian")
    widget.stack_layer.set_layer("data")
    click_refused_or_run(qtbot, widget.task, widget.fit)
    assert control in widget.task.status.text() and control in messages[-1]
    assert not has_code(widget.task.status.text())
    widget.set_source("noisy")  # another source: the refusal goes
    assert widget.task.status.text() == ""
