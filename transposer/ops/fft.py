"""FFT helpers shared by the ops.

onnxruntime (1.32) fails on the inverse *one-sided* DFT that torch.fft.irfft2 exports to ("Shape
mismatch attempting to re-use buffer"), so while exporting, the inverse is computed as a full
complex inverse FFT of the Hermitian-extended spectrum, which exports and runs correctly.
"""
from __future__ import annotations

import torch


def at_least_fp32(x: torch.Tensor) -> torch.Tensor:
    """torch.fft has no half types: compute in float32, keeping float64 (gradcheck, precision)."""
    return x if x.dtype in (torch.float32, torch.float64) else x.float()


def irfft2(spec: torch.Tensor, s: tuple[int, int]) -> torch.Tensor:
    if not torch.onnx.is_in_onnx_export():
        return torch.fft.irfft2(spec, s=s)
    ny, nx = s
    rows = torch.fft.ifft(spec, n=ny, dim=-2)        # each row now the spectrum of a real signal
    # Bins nx//2+1 .. nx-1 of a real signal's spectrum are the conjugates of bins nx-k.
    mirrored = rows.narrow(-1, 1, nx - nx // 2 - 1).flip(-1).conj()
    return torch.fft.ifft(torch.cat([rows, mirrored], dim=-1), n=nx, dim=-1).real
