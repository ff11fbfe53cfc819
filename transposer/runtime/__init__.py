"""Torch-free inference: numpy + Pillow + onnxruntime only (a test asserts torch is never imported).

    from transposer.runtime import Expander
    ex = Expander(model="default", device="auto")     # validates, opens the model once
    result = ex.expand(pixels, scale=2.0)             # ExpandResult(image, companions, provider, seconds)

See docs/design.md "Runtime API". onnxruntime is imported when an Expander is built, not here,
so front ends can import this package cheaply.
"""

from .errors import ExpandCancelled, ExpandError
from .expander import Companion, Expander, ExpandResult, ProgressCallback, renormalize_normals

__all__ = ["Expander", "ExpandError", "ExpandCancelled", "ExpandResult", "ProgressCallback", "Companion",
           "renormalize_normals"]
