"""What the audience server adds to the lab's pages: a per-session limit on readings."""

from __future__ import annotations

import hashlib
import math
import time
from collections import deque
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import streamlit as st

from ui.resources import answer_once, read_digits

READINGS_PER_MINUTE = 30


@dataclass
class RateLimit:
    """Allows at most `limit` events in any `window_seconds`-long stretch of time."""

    limit: int
    window_seconds: float
    _times: deque = field(default_factory=deque, init=False, repr=False)

    def allow(self, now: float | None = None) -> bool:
        """Counts an event and returns True if it is within the limit; else counts
        nothing and returns False."""
        now = time.monotonic() if now is None else now
        while self._times and now - self._times[0] >= self.window_seconds:
            self._times.popleft()
        if len(self._times) >= self.limit:
            return False
        self._times.append(now)
        return True

    def seconds_to_wait(self, now: float | None = None) -> float:
        """Returns how long until the next event is allowed (0 if it is now)."""
        now = time.monotonic() if now is None else now
        if len(self._times) < self.limit:
            return 0.0
        return max(0.0, self._times[0] + self.window_seconds - now)


def audience_read_digits(run_ids: list[int], prepared: np.ndarray) -> dict[int, np.ndarray | str] | None:
    """`read_digits` for the audience: a drawing already read (a rerun of the same page)
    is answered again without asking; new readings are limited to READINGS_PER_MINUTE
    per session. Past the limit it says when to try again and returns None."""
    question = hashlib.sha256(repr(run_ids).encode() + np.asarray(prepared, np.float32).tobytes()).digest()
    ask = partial(read_digits, run_ids, prepared)
    return answer_once("audience_last_reading", question, ask, within_limit)


def within_limit() -> bool:
    """Counts one new reading or explanation against the session's limit of
    READINGS_PER_MINUTE; past it, says when to try again and returns False."""
    if "audience_readings" not in st.session_state:
        st.session_state.audience_readings = RateLimit(READINGS_PER_MINUTE, 60.0)
    limit: RateLimit = st.session_state.audience_readings
    if limit.allow():
        return True
    st.info(
        f"That was a lot of digits: {READINGS_PER_MINUTE} a minute is the most each visitor "
        f"gets, so that everyone in the room gets their readings quickly. Try again in "
        f"{max(1, math.ceil(limit.seconds_to_wait()))} s.",
        icon="⏳",
    )
    return False
