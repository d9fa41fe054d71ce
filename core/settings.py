"""Whole numbers the person running the app sets in the environment (see the README's
Configuration)."""

import os


def positive_int(name: str, default: int) -> int:
    """Returns the environment variable `name` as a whole number of at least 1, or
    `default` when it is unset or not a whole number."""
    try:
        return max(1, int(os.environ.get(name, default)))
    except ValueError:
        return default
