"""Adaptive torch thread count during training."""

from __future__ import annotations

import torch

from .._device import usable_cores


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
