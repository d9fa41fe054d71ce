"""What the audience server adds to the lab's pages: a limit on readings per visitor."""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import streamlit as st

from core.settings import positive_int
from ui.resources import answer_once, read_digits

READINGS_PER_MINUTE = 30  # Each visitor's, unless DIGITLAB_READINGS_PER_MINUTE says otherwise.
MAX_VISITORS_KEPT = 1000  # Past this, the limits of visitors idle for a minute are dropped.


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

    def idle(self, now: float | None = None) -> bool:
        """Returns True if no event falls within the window any more."""
        now = time.monotonic() if now is None else now
        return not self._times or now - self._times[-1] >= self.window_seconds

    def seconds_to_wait(self, now: float | None = None) -> float:
        """Returns how long until the next event is allowed (0 if it is now)."""
        now = time.monotonic() if now is None else now
        if len(self._times) < self.limit:
            return 0.0
        return max(0.0, self._times[0] + self.window_seconds - now)


def readings_per_minute() -> int:
    """Returns each visitor's readings a minute (`DIGITLAB_READINGS_PER_MINUTE`, default
    READINGS_PER_MINUTE, at least 1)."""
    return positive_int("DIGITLAB_READINGS_PER_MINUTE", READINGS_PER_MINUTE)


def audience_read_digits(run_ids: list[int], prepared: np.ndarray) -> dict[int, np.ndarray | str] | None:
    """`read_digits` for the audience: a drawing already read (a rerun of the same page)
    is answered again without asking; new readings are limited per visitor
    (`within_limit`). Past the limit it says when to try again and returns None."""
    question = hashlib.sha256(repr(run_ids).encode() + np.asarray(prepared, np.float32).tobytes()).digest()
    ask = partial(read_digits, run_ids, prepared)
    return answer_once("audience_last_reading", question, ask, within_limit)


_visitors: dict[str, RateLimit] = {}  # Each visitor's limit, by address, for the server's life.
_visitors_lock = threading.Lock()


def within_limit() -> bool:
    """Counts one new reading or explanation against the visitor's limit of
    `readings_per_minute()`; past it, says when to try again and returns False.

    A visitor is the address they connect from, not their session: a new tab, a
    reconnection or Streamlit's "clear cache" message (which empties the session's
    state) starts no new allowance."""
    per_minute = readings_per_minute()
    address = st.context.ip_address  # None on this machine itself.
    address = address if isinstance(address, str) and address else "this machine"
    with _visitors_lock:
        if address not in _visitors and len(_visitors) >= MAX_VISITORS_KEPT:
            for idle in [key for key, limit in _visitors.items() if limit.idle()]:
                del _visitors[idle]
        limit = _visitors.setdefault(address, RateLimit(per_minute, 60.0))
        allowed = limit.allow()
        wait = limit.seconds_to_wait()
    if allowed:
        return True
    st.info(
        f"That was a lot of digits: {per_minute} a minute is the most each visitor "
        f"gets, so that everyone in the room gets their readings quickly. Try again in "
        f"{max(1, math.ceil(wait))} s.",
        icon="⏳",
    )
    return False
