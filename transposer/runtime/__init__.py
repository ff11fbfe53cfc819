"""Torch-free inference: numpy + Pillow + onnxruntime only (a test asserts torch is never imported).

    from transposer.runtime import Expander, ExpandOptions, SessionOptions
    ex = Expander(SessionOptions(model="default", device="auto"))   # validates, opens the model once
    options = ExpandOptions(scale=2.0, seed=7, variation=0.3)        # validated once, reusable
    result = ex.expand(pixels, options)      # ExpandResult(image, companions, provider, seconds)
    result = ex.expand(pixels, scale=2.0)    # the same by keywords
    for block in ex.expand_rows(pixels, options):  # the same rows, by blocks (RowBlock): with the
        ...                                        # synthesis stage the output is never whole

OPTION_SPECS is the one table of every option's range, choices, default, unit and help text; the
CLI, the desktop app and the Blender extension build their flags and widgets from it.
See docs/design.md "Runtime API". onnxruntime is imported when an Expander is built, not here,
so front ends can import this package cheaply.
"""

from .errors import ExpandCancelled, ExpandError
from .expander import (Companion, Expander, ExpandResult, ExpandStream, ProgressCallback, RowBlock,
                       renormalize_normals)
from .options import OPTION_SPECS, ExpandOptions, OptionError, OptionSpec, SessionOptions

__all__ = ["Expander", "ExpandError", "ExpandCancelled", "ExpandResult", "ExpandStream", "RowBlock",
           "ProgressCallback", "Companion",
           "renormalize_normals", "ExpandOptions", "SessionOptions", "OptionError", "OptionSpec", "OPTION_SPECS"]
