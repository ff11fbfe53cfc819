"""The runtime (and `transposer expand`) never import torch: a fresh interpreter runs an expansion
and a CLI call, then looks at sys.modules."""

import subprocess
import sys

import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

SCRIPT = r"""
import sys, numpy as np
from transposer.runtime import Expander
from transposer.runtime.imageio import read_image, write_image
from transposer.cli import main
model, folder = sys.argv[1], sys.argv[2]
out = Expander(model, device="cpu", threads=1).expand(np.random.rand(32, 32, 3).astype(np.float32), scale=2)
assert out.image.shape == (64, 64, 3), out.image.shape
write_image(folder + "/in.png", out.image)
try:
    main(["expand", folder + "/in.png", "-o", folder + "/out.png", "--model", model, "--json"])
except SystemExit as stop:
    assert stop.code == 0, stop.code
assert read_image(folder + "/out.png").pixels.shape == (128, 128, 3)
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "torchvision", "onnx"))
print("HEAVY", heavy)
"""


def test_runtime_and_cli_do_not_import_torch(tmp_path):
    from transposer.runtime.synthetic import write_synthetic_model

    model = write_synthetic_model(tmp_path / "edge.onnx")
    run = subprocess.run([sys.executable, "-c", SCRIPT, str(model), str(tmp_path)], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    assert "HEAVY []" in run.stdout, run.stdout


def test_version_answers_without_heavy_imports():
    code = ("import sys\nfrom transposer.cli import main\ntry:\n    main(['--version'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'onnxruntime', 'numpy')))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [f"transposer {__import__('transposer').__version__}", "[]"]
