"""Pure tensor operations of the Transposer: self-similarity maps and feature-map transposed
convolution, each with an FFT implementation (the default) and a direct reference."""
from transposer.ops.self_similarity import overlap_fraction, self_similarity, shift_radius
from transposer.ops.transposed_expand import transposed_expand

__all__ = ["self_similarity", "transposed_expand", "overlap_fraction", "shift_radius"]
