"""Learned perceptual metrics, used only when their pretrained weights are on disk.

- LPIPS (Zhang et al. 2018, "The Unreasonable Effectiveness of Deep Features as a Perceptual
  Metric"), AlexNet variant, through the `lpips` package.
- FID (Heusel et al. 2017) over the set of outputs of each method against the set of ground truths,
  Inception pool3 features through `pytorch-fid` (the TF-ported Inception everyone reports with).
- SIFID (Shaham et al. 2019, SinGAN): per image, the Frechet distance between the spatial
  distributions of Inception's first-block features (64 channels) of output and ground truth.

Weights are never downloaded here: both packages look in torch's hub cache
($TORCH_HOME/hub/checkpoints, default ~/.cache/torch/hub/checkpoints) and this module checks that
the files are there first. A metric that cannot run is reported as "unavailable: <why>", never
silently left out.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np

UNAVAILABLE_WEIGHTS = "unavailable: weights not found"
NAMES = ("lpips", "sifid", "fid")
# Files the libraries load from torch's hub cache (their names are part of the download URLs).
WEIGHT_FILES = {
    "lpips": "alexnet-owt-7be5be79.pth",
    "sifid": "pt_inception-2015-12-05-6726825d.pth",
    "fid": "pt_inception-2015-12-05-6726825d.pth",
}
PACKAGES = {"lpips": "lpips", "sifid": "pytorch_fid", "fid": "pytorch_fid"}
PIP_NAMES = {"lpips": "lpips", "pytorch_fid": "pytorch-fid"}


def checkpoint_dir() -> Path:
    """torch.hub's checkpoint folder, computed the way torch does, without importing torch."""
    home = os.environ.get("TORCH_HOME")
    if not home:
        home = os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.join("~", ".cache")), "torch")
    return Path(home).expanduser() / "hub" / "checkpoints"


def availability() -> dict[str, str | None]:
    """None for each metric that can run, else the reason it cannot, starting with 'unavailable:'."""
    status: dict[str, str | None] = {}
    for name in NAMES:
        package = PACKAGES[name]
        if not (checkpoint_dir() / WEIGHT_FILES[name]).is_file():
            status[name] = UNAVAILABLE_WEIGHTS
        elif importlib.util.find_spec("torch") is None or importlib.util.find_spec(package) is None:
            status[name] = f"unavailable: needs torch and the {PIP_NAMES[package]} package"
        else:
            status[name] = None
    return status


def hint() -> str:
    """Where the weights go, for the report's footnote."""
    files = sorted(set(WEIGHT_FILES.values()))
    return f"put {' and '.join(files)} in {checkpoint_dir()} (TORCH_HOME moves it)"


def frechet_distance(mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray, cov2: np.ndarray) -> float:
    """||mu1 - mu2||^2 + Tr(C1 + C2 - 2 sqrt(C1 C2)) between two Gaussians."""
    from scipy import linalg

    diff = mu1 - mu2
    covmean = linalg.sqrtm(cov1 @ cov2)
    if not np.isfinite(covmean).all():
        # Singular product (fewer samples than dimensions): regularise as pytorch-fid does.
        offset = np.eye(cov1.shape[0]) * 1e-6
        covmean = linalg.sqrtm((cov1 + offset) @ (cov2 + offset))
    covmean = np.real(covmean)
    return float(diff @ diff + np.trace(cov1) + np.trace(cov2) - 2.0 * np.trace(covmean))


def gaussian_of(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of (N, D) samples."""
    features = np.asarray(features, dtype=np.float64)
    return features.mean(axis=0), np.atleast_2d(np.cov(features, rowvar=False))


class Perceptual:
    """Computes whichever of LPIPS / SIFID / FID can run; `status` says why the others cannot."""

    def __init__(self, device: str = "auto", enabled: bool = True):
        self.status = availability() if enabled else {n: "unavailable: disabled" for n in NAMES}
        self.device = device
        self._lpips = None
        self._inception = None
        self._fid_target: list[np.ndarray] = []
        self._fid_outputs: dict[str, list[np.ndarray]] = {}

    def available(self, name: str) -> bool:
        return self.status[name] is None

    # The two network builders are separate methods so tests can put small fakes in their place.
    def _torch_device(self):
        import torch

        return torch.device("cuda" if self.device != "cpu" and torch.cuda.is_available() else "cpu")

    def _lpips_net(self):
        import lpips

        return lpips.LPIPS(net="alex", verbose=False).eval().to(self._torch_device())

    def _inception_net(self):
        from pytorch_fid.inception import InceptionV3

        # Block 0 (64 ch, first max-pool) for SIFID at native size; block 3 (2048-d pool3) for FID,
        # which pytorch-fid resizes to 299 x 299 as FID is defined.
        return (InceptionV3([0], resize_input=False).eval().to(self._torch_device()),
                InceptionV3([3]).eval().to(self._torch_device()))

    def _tensor(self, image: np.ndarray):
        import torch

        return torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)).permute(2, 0, 1)[None].to(
            self._torch_device())

    def _nets(self):
        if self._inception is None:
            self._inception = self._inception_net()
        return self._inception

    def per_case(self, output: np.ndarray, target: np.ndarray) -> dict[str, float]:
        """LPIPS and SIFID of one output against its ground truth (only those available)."""
        if not (self.available("lpips") or self.available("sifid")):
            return {}
        import torch

        values = {}
        with torch.inference_mode():
            a, b = self._tensor(output), self._tensor(target)
            if self.available("lpips"):
                if self._lpips is None:
                    self._lpips = self._lpips_net()
                values["lpips"] = float(self._lpips(a, b, normalize=True).mean())
            if self.available("sifid"):
                block0 = self._nets()[0]
                fa, fb = (block0(x)[0][0].flatten(1).T.cpu().numpy() for x in (a, b))   # (h*w, 64)
                values["sifid"] = frechet_distance(*gaussian_of(fa), *gaussian_of(fb))
        return values

    def add_for_fid(self, method: str, output: np.ndarray, target: np.ndarray | None) -> None:
        """Collect pool3 features; pass the target with the first method of each case only."""
        if not self.available("fid"):
            return
        import torch

        pool = self._nets()[1]
        with torch.inference_mode():
            if target is not None:
                self._fid_target.append(pool(self._tensor(target))[0].flatten().cpu().numpy())
            feat = pool(self._tensor(output))[0].flatten().cpu().numpy()
        self._fid_outputs.setdefault(method, []).append(feat)

    def fid(self) -> dict[str, float | str]:
        """FID per method over all cases, or the reason it cannot be computed."""
        if not self.available("fid"):
            return {}
        if len(self._fid_target) < 2:
            return {m: "unavailable: FID needs at least 2 cases" for m in self._fid_outputs}
        real = gaussian_of(np.stack(self._fid_target))
        return {m: frechet_distance(*gaussian_of(np.stack(f)), *real) for m, f in self._fid_outputs.items()}
