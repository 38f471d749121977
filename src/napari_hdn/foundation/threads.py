"""The one thread policy of napari-hdn: how many torch CPU threads each kind of work uses.

- Inference (restore, denoise, activations): ``configure_threads`` sets the calling thread's count
  (all usable cores unless told otherwise), in the thread that runs the work (napari reuses pool threads).
- Fits run as generators that may be resumed in other threads: ``TorchThreads`` sets the count for each
  stretch between two yields and gives the thread its own back before yielding.
- Training: ``ThreadTuner`` chooses between candidate counts by timing steps (a busy machine is faster
  with fewer threads).
- A second job beside a running one (the widgets' live previews, a restoration during training):
  ``threads_beside_other_jobs`` gives it one thread, since two jobs each on every core of a small
  machine slow each other down several-fold.
"""

from __future__ import annotations

import numpy as np
import torch

from .device import usable_cores
from .errors import InputError


def check_threads(threads: int | None) -> int | None:
    """``threads`` if it is None or a whole number >= 1; a clear error otherwise."""
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 1):
        raise InputError(f"threads must be a whole number of at least 1 (or None for all cores), not {threads!r}.")
    return None if threads is None else int(threads)


def configure_threads(threads: int | None) -> None:
    """Set torch's intra-op threads for the calling thread: ``threads``, or every usable core."""
    torch.set_num_threads(check_threads(threads) or usable_cores())


def threads_beside_other_jobs(fixed: int | None, others_running: bool) -> int | None:
    """Threads for a job: ``fixed`` when set; one while other jobs run; else None (all cores)."""
    if fixed is not None:
        return fixed
    return 1 if others_running else None


class TorchThreads:
    """torch's thread count for the stretches of a fit between two yields.

    The count is a per-thread setting and a generator may be resumed in another
    thread than the one that started it, so every stretch sets the count in the
    thread running it (``enter``) and gives that thread its own count back before
    yielding (``leave``): no thread is left with the fit's count, and
    ``calibrate`` in a notebook does not leave the session on one thread.
    """

    def __init__(self, threads: int | None):
        self.threads = threads
        self.saved: int | None = None

    def enter(self) -> None:
        if self.threads is not None and self.saved is None:
            self.saved = torch.get_num_threads()
            torch.set_num_threads(self.threads)

    def leave(self) -> None:
        if self.saved is not None:
            torch.set_num_threads(self.saved)
            self.saved = None



class ThreadTuner:
    """Chooses the torch thread count between training steps by timing them.

    All CPUs are fastest on an idle machine, but when other programs keep some
    cores busy, threads that wait for each other at every operation make a step
    several times slower than fewer threads would. So now and then one step runs
    with the other candidate count; the faster one is kept, and the trials
    become rarer (up to every ``max_interval`` steps) while the choice holds.
    A fixed ``threads`` setting switches this off.
    """

    def __init__(self, fixed: int | None, max_interval: int = 400):
        usable = usable_cores()
        if fixed is not None:
            self.candidates = [fixed]
        elif usable <= 4:  # start with 1: cheap to try on a small machine, and safe on a busy one
            self.candidates = sorted({1, usable})
        else:
            self.candidates = [usable, usable // 2]
        self.current = self.candidates[0]
        self.max_interval = max_interval
        self.interval = 3
        self.steps_since_trial = 0
        self.step_s: float | None = None  # smoothed step time with the current count
        self.trial: int | None = None
        self.warm = False  # the first step sets up kernels: too slow to compare
        torch.set_num_threads(self.current)

    def before_step(self) -> None:
        if len(self.candidates) > 1 and self.step_s is not None and self.steps_since_trial >= self.interval:
            self.trial = next(c for c in self.candidates if c != self.current)
            torch.set_num_threads(self.trial)

    def after_step(self, seconds: float) -> None:
        if not self.warm:
            self.warm = True
            return
        if self.trial is None:
            self.step_s = seconds if self.step_s is None else 0.8 * self.step_s + 0.2 * seconds
            self.steps_since_trial += 1
            return
        if seconds < 0.9 * self.step_s:
            self.current, self.step_s, self.interval = self.trial, seconds, 3
        else:
            self.interval = min(2 * self.interval, self.max_interval)
            torch.set_num_threads(self.current)
        self.trial, self.steps_since_trial = None, 0
