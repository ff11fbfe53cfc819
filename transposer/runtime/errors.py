"""The runtime's two exceptions. Front ends (CLI, desktop app, Blender) print `str(error)` as a
one-line message, so every message names what was wrong, the allowed range and the given value."""


class ExpandError(ValueError):
    """Bad input or option, an unusable model file, or an onnxruntime set-up problem."""


class ExpandCancelled(Exception):
    """The progress callback returned False: the expansion stopped and nothing was produced."""


def check_range(name: str, value, low, high, *, integer: bool = False):
    """Return `value` if it is a number in [low, high] (an int when `integer`), else raise
    ExpandError naming the parameter, the range and the value."""
    kind = "an integer" if integer else "a number"
    ok_type = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok_type:
        # numpy scalars are numbers too
        try:
            import numpy as np

            if integer and isinstance(value, np.integer):
                value = int(value)
                ok_type = True
            elif not integer and isinstance(value, (np.integer, np.floating)):
                value = float(value)
                ok_type = True
        except ImportError:  # pragma: no cover - numpy is a base dependency
            pass
    if isinstance(value, bool) or not ok_type:
        raise ExpandError(f"{name} must be {kind} in [{low}, {high}]; got {value!r}")
    if not (low <= value <= high):  # also rejects NaN
        raise ExpandError(f"{name} must be {kind} in [{low}, {high}]; got {value!r}")
    return value
