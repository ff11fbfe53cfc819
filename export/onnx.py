"""Export a training snapshot to ONNX for the torch-free runtime.

    python -m export.onnx --checkpoint RUN/snapshot.safetensors --out MODEL.onnx [--fp16] [--opset N]

One graph (docs/design.md, "The ONNX model contract"): the seamless and noise options are graph
inputs, so a single file serves every mode. Dynamic batch, height and width. The exporter checks
the graph with onnx.checker and compares onnxruntime with PyTorch on two input sizes (and with
wrap on), failing loudly above 1e-3 (fp32).

Why the dynamo exporter: torch.fft.rfft2 exports only through it (ONNX DFT, opset >= 18).
Why value_info is stripped: the exporter annotates the one-sided DFT outputs with wrong shapes and
onnxruntime's buffer planner trusts them ("Shape mismatch attempting to re-use buffer").
"""
from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np

from export import run_command

PARITY_TOLERANCE = 1e-3


class ExportWrapper:
    """Builds the nn.Module with the contract's tensor-only signature (created lazily: needs torch)."""

    @staticmethod
    def build(model):
        import torch

        class _Graph(torch.nn.Module):
            def __init__(self, net):
                super().__init__()
                self.net = net

            def forward(self, image, wrap, noise_mix, noise):
                out, coords = self.net.forward_padded(image, wrap, noise, noise_mix[0])
                return out.clamp(0.0, 1.0), coords

        return _Graph(model).eval()


def _example_inputs(b: int, h: int, w: int, wrap=(0.0, 0.0), seed: int = 0, noise_mix: float = 0.0,
                    noise_size: tuple[int, int] | None = None):
    rng = np.random.default_rng(seed)
    nh, nw = noise_size or (h // 4 + 1, w // 4 + 1)   # any size: the graph resizes the noise
    img = rng.random((b, 3, h, w), dtype=np.float32)
    # A smooth, texture-like image: random noise alone has no structure to find.
    img = (img + np.roll(img, 1, -1) + np.roll(img, 1, -2)) / 3.0
    return {
        "image": img.astype(np.float32),
        "wrap": np.asarray(wrap, dtype=np.float32),
        "noise_mix": np.asarray([noise_mix], dtype=np.float32),
        "noise": rng.standard_normal((b, 1, nh, nw)).astype(np.float32),
    }


def export(model, out_path: Path, opset: int = 18, fp16: bool = False, verify: bool = True,
           name: str | None = None, version: str | None = None) -> dict:
    """Export `model` (a Transposer) to `out_path`; returns the parity report."""
    import onnx
    import torch

    from transposer import __version__

    cfg = model.config
    graph = ExportWrapper.build(model.eval().float())
    m = cfg.input_multiple
    # Batch 2, not 1: torch.export specialises a dimension whose example size is 1, and the
    # graph would then only take single images.
    ex = _example_inputs(2, 4 * m, 4 * m)
    args = tuple(torch.from_numpy(ex[k]) for k in ("image", "wrap", "noise_mix", "noise"))
    batch = torch.export.Dim("batch", min=1, max=64)
    height = torch.export.Dim("h_blocks", min=2, max=1024)
    width = torch.export.Dim("w_blocks", min=2, max=1024)
    dynamic = {
        "image": {0: batch, 2: m * height, 3: m * width},
        "wrap": None,
        "noise_mix": None,
        "noise": {0: batch, 2: torch.export.Dim("nh", min=2, max=8192),
                  3: torch.export.Dim("nw", min=2, max=8192)},
    }
    tmp = out_path.with_name(out_path.name + ".tmp")
    with torch.no_grad():
        torch.onnx.export(graph, args, str(tmp), dynamo=True, opset_version=opset,
                          dynamic_shapes=dynamic, input_names=["image", "wrap", "noise_mix", "noise"],
                          output_names=["output", "coords"], external_data=False)
    proto = onnx.load(str(tmp))
    del proto.graph.value_info[:]
    if fp16:
        from onnxconverter_common import float16  # optional dependency, only for --fp16

        proto = float16.convert_float_to_float16(proto, keep_io_types=True)
    meta = {
        "transposer.name": name or cfg.name,
        "transposer.version": version or __version__,
        "transposer.scale": "2",
        "transposer.input_multiple": str(m),
        "transposer.config_hash": cfg.hash(),
        "transposer.config": cfg.to_json(),
    }
    for k, v in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = k, v
    onnx.checker.check_model(proto, full_check=False)
    onnx.save(proto, str(tmp))
    try:
        report = verify_parity(model, tmp, tol=PARITY_TOLERANCE * (50 if fp16 else 1)) if verify else {}
    except Exception:
        tmp.unlink(missing_ok=True)   # nothing half-checked is left behind
        raise
    tmp.replace(out_path)
    report["sha256"] = hashlib.sha256(out_path.read_bytes()).hexdigest()
    report["bytes"] = out_path.stat().st_size
    return report


def verify_parity(model, onnx_path: Path, tol: float = PARITY_TOLERANCE) -> dict:
    """Run onnxruntime and PyTorch on two sizes (and once seamless); raise if they differ."""
    import onnxruntime as ort
    import torch

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    graph = ExportWrapper.build(model.eval().float())
    m = model.config.input_multiple
    report = {}
    for b, h, w, wrap in [(1, 8 * m, 8 * m, (0, 0)), (2, 6 * m, 10 * m, (1, 0))]:
        ex = _example_inputs(b, h, w, wrap)
        got = sess.run(["output", "coords"], ex)
        with torch.no_grad():
            want = graph(*(torch.from_numpy(ex[k]) for k in ("image", "wrap", "noise_mix", "noise")))
        diff_out = float(np.abs(got[0] - want[0].numpy()).max())
        # Coordinates are in pixels: compare relative to the image size.
        diff_coords = float(np.abs(got[1] - want[1].numpy()).max()) / max(h, w)
        key = f"{b}x{h}x{w}" + ("-wrap" if any(wrap) else "")
        report[key] = {"output_max_abs": diff_out, "coords_max_rel": diff_coords}
        if diff_out > tol or diff_coords > tol:
            raise RuntimeError(f"ONNX/PyTorch mismatch at {key}: output {diff_out:.2e}, "
                               f"coords {diff_coords:.2e} (tolerance {tol:.0e})")
    return report


def export_checkpoint(checkpoint: str | Path, out: str | Path, opset: int = 18, fp16: bool = False,
                      name: str | None = None) -> dict:
    """Check the options, load the snapshot (a .safetensors file or a run folder holding
    snapshot.safetensors) and export it; raises FileNotFoundError / ValueError with one line."""
    from transposer.model import load_snapshot

    ckpt = Path(checkpoint)
    if ckpt.is_dir():
        ckpt = ckpt / "snapshot.safetensors"
    if not ckpt.is_file():
        raise FileNotFoundError(f"no snapshot at {ckpt}")
    out = Path(out)
    if not out.parent.is_dir():
        raise FileNotFoundError(f"output folder {out.parent} does not exist")
    if out.suffix.lower() != ".onnx":
        raise ValueError(f"--out must end in .onnx; got {out.name!r}")
    if opset < 18:
        raise ValueError(f"--opset must be >= 18 (DFT), got {opset}")
    return export(load_snapshot(ckpt), out, opset=opset, fp16=fp16, name=name)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m export.onnx", description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint", required=True, help="inference snapshot (.safetensors) or run folder")
    ap.add_argument("--out", required=True, help="output .onnx path")
    ap.add_argument("--fp16", action="store_true", help="store weights in float16 (needs onnxconverter-common)")
    ap.add_argument("--opset", type=int, default=18, help="ONNX opset (>= 18 for DFT; default 18)")
    ap.add_argument("--name", default=None, help="model name recorded in the metadata")
    args = ap.parse_args(argv)
    return run_command(lambda: export_checkpoint(args.checkpoint, args.out, args.opset, args.fp16, args.name))


if __name__ == "__main__":
    sys.exit(main())
