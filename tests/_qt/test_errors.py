"""Error notifications: expected errors and OS errors in plain words, bugs with a pointer to the log."""

import errno

from napari_hdn._qt._errors import report_error
from napari_hdn.foundation.errors import InputError


def test_os_errors_are_one_plain_line_naming_the_file(messages):
    err = PermissionError(errno.EACCES, "Permission denied", "/data/model")
    shown = report_error(err, "Saving the model")
    assert shown == messages[-1]
    assert "Permission denied" in shown and "/data/model" in shown and "unexpectedly" not in shown
    disk = OSError(errno.ENOSPC, "No space left on device")
    assert "No space left on device" in report_error(disk, "Writing the results")


def test_expected_errors_are_shown_as_they_are_and_bugs_point_to_the_log(messages):
    assert report_error(InputError("Give a stack."), "Fitting") == "Give a stack."
    assert "unexpectedly" in report_error(ZeroDivisionError("x"), "Fitting")


def test_error_pop_ups_go_away_even_when_napari_would_keep_them(make_napari_viewer, qtbot, monkeypatch):
    from napari._qt.dialogs.qt_notification import NapariQtNotification

    from napari_hdn._qt import _errors

    viewer = make_napari_viewer(show=True)
    monkeypatch.setattr(_errors, "NOTIFICATION_SECONDS", 0.3)
    monkeypatch.setattr(NapariQtNotification, "DISMISS_AFTER", 0)  # napari's own timer off (as when inactive)
    message = report_error(InputError("Choose a calibration stack."), "Fitting")
    assert [popup.message.full_text() for popup in NapariQtNotification._instances] == [message]
    qtbot.waitUntil(lambda: not NapariQtNotification._instances, timeout=5000)
    viewer.close()
