"""Error notifications: expected errors and OS errors in plain words, bugs with a pointer to the log."""

import errno

from napari_hdn._qt._errors import report_error
from napari_hdn.errors import InputError


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
