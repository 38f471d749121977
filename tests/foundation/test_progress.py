import threading

from napari_hdn.foundation.progress import Progress, StopToken, Timer, drive


def counting(n, stop=None):
    done = 0
    for done in range(1, n + 1):
        if stop:
            break
        yield Progress("count", done, n)
    return done


def test_drive_returns_the_generators_result_and_reports_every_event():
    seen = []
    assert drive(counting(5), seen.append) == 5
    assert [e.done for e in seen] == [1, 2, 3, 4, 5]
    assert seen[-1].fraction == 1.0


def test_stop_token_is_honoured_between_units_of_work():
    stop = StopToken()
    events = counting(100, stop)
    next(events)
    next(events)
    threading.Thread(target=stop.request_stop).start()
    stop._event.wait(1)
    assert drive(events) == 3  # stops before reporting the third unit
    assert stop.stop_requested and bool(stop)


def test_fraction_unknown_without_total_and_clamped():
    assert Progress("x", 3).fraction is None
    assert Progress("x", 12, 10).fraction == 1.0


def test_timer_eta():
    timer = Timer(start=0.0)
    assert timer.eta(0, 10) is None
    assert timer.eta(5, None) is None
    assert timer.eta(5, 10) > 0


def test_format_seconds():
    from napari_hdn.foundation.progress import format_seconds

    assert format_seconds(None) == "--:--"
    assert format_seconds(65.4) == "01:05"
    assert format_seconds(3725) == "1:02:05"
