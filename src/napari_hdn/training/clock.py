"""The training clock: the budget (minutes and/or steps), the time left and where the schedule is."""

from __future__ import annotations

import math
import time
from typing import Any


class TrainingClock:
    """Time and steps of one training session, measured against its budget.

    ``budget_s``: this session's time budget (None: none); ``max_steps``: the step budget over all
    sessions (None: none); ``earlier_s``: the training time of earlier sessions (a resumed training).
    """

    def __init__(self, budget_s: float | None, max_steps: int | None, earlier_s: float, steps_per_epoch: int):
        self.budget_s = budget_s
        self.max_steps = max_steps
        self.earlier_s = earlier_s
        self.steps_per_epoch = steps_per_epoch
        self.val_cost_s = 0.0  # how long the last validation round and its checkpoints took
        self.start()

    def start(self) -> None:
        """The session starts now (after the set-up, which the budget does not count)."""
        self.session_start = time.perf_counter()

    def session_s(self) -> float:
        return time.perf_counter() - self.session_start

    def total_elapsed(self) -> float:
        """Training time of every session so far."""
        return self.earlier_s + self.session_s()

    def out_of_time(self, step_s: float) -> bool:
        """Whether another step (and the validation after it) would overrun the time budget."""
        return self.budget_s is not None and self.session_s() + step_s + self.val_cost_s > self.budget_s

    def fraction_done(self, step: int) -> float:
        fractions = []
        if self.max_steps:
            fractions.append(step / self.max_steps)
        if self.budget_s:
            fractions.append(self.session_s() / self.budget_s)
        return max(fractions) if fractions else 0.0

    def schedule_fraction(self, step: int) -> float:
        """Where the cosine schedule is. A minutes budget counts this session's time, but the schedule
        spans the time of every session: a resumed training continues from the fraction its earlier time
        makes of the new total (an interrupted one exactly where it stopped) instead of restarting at 0."""
        if self.budget_s and not self.max_steps:
            return (self.earlier_s + self.session_s()) / (self.earlier_s + self.budget_s)
        return self.fraction_done(step)

    def time_left(self, step: int, step_s: float | None) -> float | None:
        left = []
        if self.budget_s:
            left.append(max(self.budget_s - self.session_s(), 0.0))
        if self.max_steps and step_s:
            remaining = self.max_steps - step
            left.append(remaining * step_s + self.val_cost_s * math.ceil(remaining / self.steps_per_epoch))
        return min(left) if left else None

    def progress(self, step: int, step_s: float | None) -> dict[str, Any]:
        """``done``, ``total`` and ``eta_s`` of a progress event: seconds, steps or per mille of both."""
        if self.budget_s and not self.max_steps:
            return {"done": round(self.session_s(), 1), "total": round(self.budget_s, 1),
                    "eta_s": self.time_left(step, step_s)}
        if self.max_steps and not self.budget_s:
            return {"done": step, "total": self.max_steps, "eta_s": self.time_left(step, step_s)}
        return {"done": round(1000 * self.fraction_done(step)), "total": 1000, "eta_s": self.time_left(step, step_s)}
