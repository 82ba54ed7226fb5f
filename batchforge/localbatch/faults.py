"""Fault injection for client tests: busy and throttled answers, slow answers, dropped connections.

Each matching request draws once from a generator seeded by the settings, so a given sequence of
requests meets the same faults on every run.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from typing import Literal

from batchforge.localbatch.config import FaultSettings

FaultKind = Literal["server_busy", "throttle", "delay", "drop"]


class FaultInjector:
    def __init__(self, settings: FaultSettings) -> None:
        self.counts: Counter[str] = Counter()
        self.configure(settings)

    def configure(self, settings: FaultSettings) -> None:
        self.settings = settings
        self._random = random.Random(settings.seed)
        self._pattern = re.compile(settings.path_pattern) if settings.path_pattern else None
        self._methods = {m.upper() for m in settings.methods}
        self._injected = 0
        self.counts.clear()

    def draw(self, method: str, path: str) -> FaultKind | None:
        s = self.settings
        total = s.server_busy_rate + s.throttle_rate + s.delay_rate + s.drop_rate
        if total <= 0:
            return None
        if self._methods and method.upper() not in self._methods:
            return None
        if self._pattern is not None and not self._pattern.search(path):
            return None
        if s.max_faults is not None and self._injected >= s.max_faults:
            return None
        roll = self._random.random()
        kind: FaultKind | None = None
        for candidate, rate in (
            ("server_busy", s.server_busy_rate),
            ("throttle", s.throttle_rate),
            ("delay", s.delay_rate),
            ("drop", s.drop_rate),
        ):
            if roll < rate:
                kind = candidate  # type: ignore[assignment]
                break
            roll -= rate
        if kind is not None:
            self._injected += 1
            self.counts[kind] += 1
        return kind
