"""Expander: one validated onnxruntime session, reused for any number of expansions.

Everything a call needs lives in local variables, so one Expander may serve several threads
(onnxruntime's `run` is thread-safe). A call works on a stack of layers,

    layers = [RGB (3) | alpha (0/1) | companion channels ...]     (H, W, C) float32

and is a short pipeline: validate the options, then arrange the output, then place every layer.
`expand` returns the whole output; `expand_rows` hands it out by blocks of rows (RowBlock), so
with the synthesis stage an output of any size never exists whole in memory: the input and its
companions stay in their own dtype (uint8, uint16 or float32) and become the float32 stack only
block by block, after the whole-pixel copy (the same values as converting first).

synthesis="coherent" (default):
    network   the Transposer proposes an arrangement of its 2x canvas (`coords`), run on the input
              or on a copy of at most PROPOSAL_SIDE px (the proposal is per cell, so that suffices);
    synthesis the whole output, any size, is arranged in one go at full resolution from pieces
              of the input (runtime/synthesis), starting from the proposal;
    placement every layer is copied at the result by blocks of rows (warp.gather, in the layers'
              own dtype): whole-pixel copies, so colour, alpha, companions, 16-bit and HDR values
              stay registered and exact, the input is kept exactly, and a seamless axis tiles at
              the requested size.

synthesis="network" (the raw Transposer, the paper's method): repeated 2x passes,
    pass:   network(guide RGB) -> output RGB + coords (where each output pixel came from)
            RGB of LDR images                  <- network output
            RGB of HDR images, alpha, companions <- the layer sampled at coords (warp.py)
            the known centre                   <- the pass's input, exactly
  - input side <= analysis_size: one network call at full resolution (padded to the model's
    input multiple, padding.py);
  - larger, large="warp" (default): the network runs on a copy downscaled to analysis_size, its
    coordinates are upsampled, and every layer is sampled from the full-resolution input by
    blocks of rows (ONNX Runtime's DFT is slow on CPU, so the global FFT part must stay small);
  - larger, large="tiles": the canvas is grown ring by ring with full network calls on windows of
    analysis_size (tiling.py): the decoder everywhere, many calls (for fast GPUs).
  The last canvas is cropped around the input (or, on a seamless axis, resampled periodically)
  to the requested size.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence, Union

import numpy as np

from . import proposal, warp
from . import options as opts
from .errors import ExpandCancelled, ExpandError
from .files import first_line
from .options import ExpandOptions, SessionOptions
from .padding import fit_axis, pad_layers, periodic_resize, unpad_canvas
from .session import check_contract, open_session, resolve_model
from .synthesis import feather, level_count, synthesize
from .synthesis.features import unit as _unit
from .tiling import count_tiles, grow_canvas

ProgressCallback = Callable[[int, int], Optional[bool]]

# The ranges live in options.OPTION_SPECS (one table for every front end); these names are views.
DEFAULT_ANALYSIS_SIZE = opts.ANALYSIS_SIZE.default  # largest input side the network sees
ANALYSIS_SIZE_RANGE = (opts.ANALYSIS_SIZE.low, opts.ANALYSIS_SIZE.high)
LARGE_MODES = opts.LARGE.choices
THREADS_RANGE = (opts.THREADS.low, opts.THREADS.high)
SCALE_RANGE = (opts.SCALE.low, opts.SCALE.high)  # exclusive of 1: the output must be larger than the input
SIZE_RANGE = (opts.SIZE.low, opts.SIZE.high)
SEED_RANGE = (opts.SEED.low, opts.SEED.high)
SEAMLESS = (None, "x", "y", "xy")
# "coherent": the network's coordinates refined by the synthesis stage (runtime/synthesis);
# "network": the raw Transposer output (the paper's method), for comparison and reproduction.
SYNTHESIS_MODES = opts.SYNTHESIS.choices
BLEND_PIXELS = 1 << 16  # soft-band pixels blended at once (each holds a few layer copies)
# with synthesis the network proposes on a copy of at most this side: half its training input,
# judged head to head against the full 128 (docs/blind/ab/proposal_64: 31 to 16, fewer repeats in
# a grid) and a quarter of the network's time
PROPOSAL_SIDE = 64


@dataclass(frozen=True)
class Companion:
    """A map arranged exactly like the guide image. `normal`: a tangent-space normal map stored
    as 0..1 (n * 0.5 + 0.5); its vectors are renormalised to unit length after expansion."""

    pixels: np.ndarray
    normal: bool = False


@dataclass
class ExpandResult:
    image: np.ndarray  # (H', W', C) float32, C as the input's
    companions: list = field(default_factory=list)  # one (H', W', C_i) float32 per companion
    provider: str = ""  # the onnxruntime execution provider that ran the network
    seconds: float = 0.0


@dataclass
class RowBlock:
    """Output rows [row, row + image.shape[0]) of an expansion, as ExpandResult has them."""

    row: int
    image: np.ndarray  # (rows, W', C) float32
    companions: list  # one (rows, W', C_i) float32 per companion


class ExpandStream:
    """An expansion handed out by blocks of rows, top to bottom: iterate it once for RowBlocks.
    The size and channels are known before the first block; the work (network, synthesis,
    placement) runs while it is iterated, and progress(done, total) advances per block.
    `seconds` counts from the call to the last block."""

    def __init__(self, blocks, height: int, width: int, channels: int, companion_channels: list,
                 provider: str, start: float):
        self._blocks = blocks
        self.height, self.width = height, width
        self.channels = channels  # of the image, as the input's
        self.companion_channels = companion_channels
        self.provider = provider
        self._start = start
        self.seconds = 0.0

    def __iter__(self):
        if self._blocks is None:
            raise ExpandError("an ExpandStream can be iterated once")
        blocks, self._blocks = self._blocks, None
        for block in blocks:
            self.seconds = time.perf_counter() - self._start
            yield block
        self.seconds = time.perf_counter() - self._start


class Expander:
    """Build once (validates the options and opens the model), then call `expand` many times.

    analysis_size: the largest input side the network runs on (rounded down to the model's input
    multiple); large: how passes above it run, "warp" or "tiles" (see the module doc)."""

    def __init__(self, model: Union[str, "os.PathLike", SessionOptions] = "default", device: str = "auto",
                 threads: Optional[int] = None, analysis_size: int = DEFAULT_ANALYSIS_SIZE,
                 large: str = "warp"):
        if isinstance(model, SessionOptions):  # Expander(SessionOptions(...)): already checked
            given = (device, threads, analysis_size, large)
            if given != ("auto", None, DEFAULT_ANALYSIS_SIZE, "warp"):
                raise ExpandError(f"give a SessionOptions or keyword options, not both; got {model!r} and "
                                  f"device={device!r}, threads={threads!r}, analysis_size={analysis_size!r}, "
                                  f"large={large!r}")
            session = model
        else:
            session = SessionOptions(model=model, device=device, threads=threads, analysis_size=analysis_size,
                                     large=large)
        model, device, threads, analysis_size, large = (session.model, session.device, session.threads,
                                                        session.analysis_size, session.large)
        self.options = session
        self.model = resolve_model(model)
        self._session, self.provider = open_session(self.model.path, device, threads)
        self.metadata = check_contract(self._session, self.model.path)
        self.input_multiple = int(self.metadata.get("transposer.input_multiple", "8"))
        # a multiple of the input multiple that holds at least four of them (tiles halve it)
        self.analysis_size = max(analysis_size // self.input_multiple * self.input_multiple, 4 * self.input_multiple)
        self.large = large
        self.device, self.threads = device, threads

    @property
    def min_side(self) -> int:
        """The smallest image side the model takes (two input multiples)."""
        return 2 * self.input_multiple

    def expand(self, pixels: np.ndarray, scale: Union[None, float, ExpandOptions] = None, size=None,
               seamless=None, seed: int = 0, progress: Optional[ProgressCallback] = None,
               companions: Sequence = (), noise_mix: float = 0.0,
               synthesis: str = "coherent") -> ExpandResult:
        """Expand `pixels` (H, W, C), C in 1..4, float in [0, 1] (values above 1 are HDR and kept),
        uint8 or uint16, to `scale` x (default 2) or to `size` = (width, height).

        The options come as one ExpandOptions, `expand(pixels, options, progress=...)`, or as
        keywords, checked the same way (noise_mix is ExpandOptions.variation):
        seamless: None | "x" | "y" | "xy" -- the output tiles along those axes.
        noise_mix: 0 arranges copies by self-similarity; towards 1 by noise drawn from `seed`.
        synthesis: "coherent" | "network" (the raw network output).
        companions: arrays (H, W[, C]) or Companion objects, arranged like the image.
        progress(done, total) is called after each network run; returning False cancels
        (ExpandCancelled). Returns ExpandResult."""
        start = time.perf_counter()
        options = _options(scale, size, seamless, seed, noise_mix, synthesis)
        _check_progress(progress)
        stack = _LayerStack.build(pixels, companions, self.min_side)
        if options.synthesis == "coherent":  # assembled from the blocks: the same values
            blocks = self._coherent_blocks(stack, options, progress)
            height, width = options.target_size(stack.width, stack.height)
            image = np.empty((height, width, stack.channels), np.float32)
            maps = [np.empty((height, width, m.pixels.shape[2]), np.float32) for m in stack.maps]
            for block in blocks:
                rows = slice(block.row, block.row + block.image.shape[0])
                image[rows] = block.image
                for whole, part in zip(maps, block.companions):
                    whole[rows] = part
                del block
            return ExpandResult(image, maps, self.provider, time.perf_counter() - start)
        image, maps = stack.split(self._network_layers(stack, options, progress))
        return ExpandResult(image, maps, self.provider, time.perf_counter() - start)

    def expand_rows(self, pixels: np.ndarray, scale: Union[None, float, ExpandOptions] = None, size=None,
                    seamless=None, seed: int = 0, progress: Optional[ProgressCallback] = None,
                    companions: Sequence = (), noise_mix: float = 0.0,
                    synthesis: str = "coherent") -> "ExpandStream":
        """`expand`, handed out by blocks of rows: the same arguments, checked now; returns an
        ExpandStream to iterate for RowBlocks, whose rows together are exactly `expand`'s result.

            stream = ex.expand_rows(pixels, ExpandOptions(scale=2), companions=[normal])
            for block in stream:  # block.row, block.image, block.companions
                ...

        With the synthesis stage (synthesis="coherent") the output is never whole in memory:
        beside the input it takes the arrangement (a label per output pixel) and a block.
        synthesis="network" computes the whole output first, then hands it out."""
        start = time.perf_counter()
        options = _options(scale, size, seamless, seed, noise_mix, synthesis)
        _check_progress(progress)
        stack = _LayerStack.build(pixels, companions, self.min_side)
        height, width = options.target_size(stack.width, stack.height)
        if options.synthesis == "coherent":
            blocks = self._coherent_blocks(stack, options, progress)
        else:
            blocks = self._network_blocks(stack, options, progress, height)
        return ExpandStream(blocks, height, width, stack.channels, [m.pixels.shape[2] for m in stack.maps],
                            self.provider, start)

    def _network_layers(self, stack, options, progress) -> np.ndarray:
        height, width = stack.height, stack.width
        target = options.target_size(width, height)
        passes = _plan_passes(height, width, target, options.wrap)
        steps = sum(self._steps(h, w, options.wrap) for h, w, _ in passes)
        return self._expand_network(stack.float_layers(), passes, target, options.wrap, stack.hdr,
                                    options.noise_mix, options.seed, _Progress(progress, steps))

    def _network_blocks(self, stack, options, progress, height):
        layers = self._network_layers(stack, options, progress)
        for r0 in range(0, height, warp.BLOCK_ROWS):
            image, maps = stack.split(layers[r0:r0 + warp.BLOCK_ROWS])
            yield RowBlock(r0, image, maps)

    def _coherent_blocks(self, stack, options, progress):
        """The synthesis stage's output by blocks of rows (a generator: the work starts at the
        first block)."""
        target = options.target_size(stack.width, stack.height)
        tick = _Progress(progress, 1 + level_count((stack.height, stack.width), target) + warp.block_count(target[0]))
        pieces = self._arrange_coherent(stack, target, options.wrap, options.noise_mix, options.seed, tick)
        # the soft bands blend in the other copy's shading: the layers' block means (feather.py)
        shading = None if pieces.feather is None else feather.Shading(
            stack.lowpass(pieces.feather.low), pieces.feather.low, (stack.height, stack.width))
        for r0 in range(0, target[0], warp.BLOCK_ROWS):
            r1 = min(r0 + warp.BLOCK_ROWS, target[0])
            cy, cx = pieces.coords(r0, r1)
            layers = stack.gather(cy, cx, options.wrap)
            flat = layers.reshape(-1, layers.shape[2])
            for band in pieces.blends(r0, r1):  # soft cuts and input edge
                for at in range(0, len(band[0]), BLEND_PIXELS):  # a bounded slice at a time
                    index, by, bx, weight = (a[at:at + BLEND_PIXELS] for a in band)
                    other = stack.gather(by[None], bx[None], (False, False))[0]
                    own = shading.at(cy.ravel()[index].astype(np.intp), cx.ravel()[index].astype(np.intp))
                    flat[index] = feather.mix(flat[index], other, own, shading.at(by, bx), weight)
                del band
            del cy, cx
            image, maps = stack.split(layers)
            yield RowBlock(r0, image, maps)
            tick()

    # --- the synthesis stage: the network proposes, synthesis arranges, layers are sampled ----
    def _arrange_coherent(self, stack, target, wrap, noise_mix, seed, tick):
        """The arrangement of the target (H, W) in one go: the network proposes an arrangement
        of its 2x canvas, the synthesis stage (runtime/synthesis) arranges the whole output
        coherently at full resolution (a PieceMap); every layer is then copied from it (whole
        pixels), so the input is reproduced exactly at the centre and a seamless axis tiles at
        the target size itself."""
        h, w = stack.height, stack.width
        guide = stack.guide()  # the colour in the input's own dtype (HDR: compressed, float32)
        network_rng = np.random.default_rng([seed, 0, 0])
        # the network proposes at its training scale at most: a proposal per cell needs no more
        side = min(self.analysis_size, PROPOSAL_SIDE)
        if max(h, w) <= side:
            fits = (fit_axis(h, self.input_multiple, wrap[0]), fit_axis(w, self.input_multiple, wrap[1]))
            _, coords = self._run_network(pad_layers(_unit(guide), fits), wrap, noise_mix, network_rng)
            proposed = proposal.from_padded(coords, fits)
        else:
            small = self._analysis_shape(h, w, side)
            # channel by channel (the resampling is per channel): one float32 plane at a time
            copy = np.concatenate([periodic_resize(_unit(guide[:, :, c:c + 1]), small[0], small[1], wrap)
                                   for c in range(3)], axis=2)
            copy = np.clip(copy, 0.0, 1.0)
            _, coords = self._run_network(copy, wrap, noise_mix, network_rng)
            proposed = proposal.from_downscaled(coords, (h, w), small)
        tick()
        origin = ((target[0] - h) // 2, (target[1] - w) // 2)
        return synthesize(guide, target, origin, wrap, np.random.default_rng([seed, 0, 1]),
                          proposal.on_canvas(proposed, (h, w), origin), on_level=tick)

    # --- the raw network: repeated 2x passes ---------------------------------------------------
    def _expand_network(self, layers, passes, target, wrap, hdr, noise_mix, seed, tick) -> np.ndarray:
        height, width = layers.shape[:2]
        offset = [0, 0]  # where the original input sits in the current layers
        for index, (h, w, keep) in enumerate(passes):
            layers = self._pass(layers, wrap, hdr, noise_mix, (seed, index), tick)
            offset = [offset[0] + h // 2, offset[1] + w // 2]
            layers, offset = _crop_around(layers, offset, keep, (height, width), wrap)
        return _fit_seamless(layers, target, wrap)

    def _steps(self, h: int, w: int, wrap) -> int:
        """Progress steps of a pass: network calls, plus blocks of rows when warping."""
        if max(h, w) <= self.analysis_size:
            return 1
        if self.large == "tiles":
            return count_tiles(h, w, self.analysis_size, wrap, self.input_multiple)
        return 1 + warp.block_count(2 * h)

    def _pass(self, layers, wrap, hdr, noise_mix, seed_key, tick) -> np.ndarray:
        h, w = layers.shape[:2]
        if max(h, w) <= self.analysis_size:
            out = self._expand_once(layers, wrap, hdr, noise_mix, np.random.default_rng([*seed_key, 0]))
            tick()
            return out
        if self.large == "warp":
            return self._expand_warped(layers, wrap, hdr, noise_mix, np.random.default_rng([*seed_key, 0]), tick)
        counter = [0]

        def run_tile(window: np.ndarray) -> np.ndarray:
            counter[0] += 1  # the windows are not periodic: the network never wraps them
            rng = np.random.default_rng([*seed_key, counter[0]])
            return self._expand_once(window, (False, False), hdr, noise_mix, rng)

        return grow_canvas(layers, run_tile, self.analysis_size, wrap, self.input_multiple, on_tile=tick)

    def _expand_once(self, layers, wrap, hdr, noise_mix, rng) -> np.ndarray:
        """(h, w, C) -> (2h, 2w, C) with one network call; the input is kept exactly in the centre
        unless an axis had to be resampled (seamless axis not a multiple of the input multiple)."""
        h, w, _ = layers.shape
        fits = (fit_axis(h, self.input_multiple, wrap[0]), fit_axis(w, self.input_multiple, wrap[1]))
        padded = pad_layers(layers, fits)
        colour = padded[:, :, :3]
        output, coords = self._run_network(_guide(colour, hdr), wrap, noise_mix, rng)
        size = output.shape[:2]
        if hdr:  # the real values, from where the network copied its colours
            canvas = warp.sample(padded, warp.full_coords(coords), size, wrap)
        else:
            canvas = np.empty((size[0], size[1], layers.shape[2]), np.float32)
            canvas[:, :, :3] = output
            if layers.shape[2] > 3:
                canvas[:, :, 3:] = warp.sample(padded[:, :, 3:], warp.full_coords(coords), size, wrap)
        canvas = unpad_canvas(canvas, fits)
        if not (fits[0].resample or fits[1].resample):
            canvas[h // 2: h // 2 + h, w // 2: w // 2 + w] = layers
        return canvas

    def _expand_warped(self, layers, wrap, hdr, noise_mix, rng, tick) -> np.ndarray:
        """(h, w, C) -> (2h, 2w, C): coordinates from the network on a downscaled copy, every
        layer sampled at full resolution; the input kept exactly in the centre."""
        h, w, _ = layers.shape
        small = self._analysis_shape(h, w)
        guide = periodic_resize(_guide(layers[:, :, :3], hdr), small[0], small[1], wrap)
        _, coords = self._run_network(np.clip(guide, 0.0, 1.0), wrap, noise_mix, rng)
        tick()
        size = (2 * h, 2 * w)
        rows = warp.upsampled_coords(coords, (h, w), small, size, wrap)
        canvas = warp.sample(layers, rows, size, wrap, on_block=tick)
        canvas[h // 2: h // 2 + h, w // 2: w // 2 + w] = layers
        return canvas

    def _analysis_shape(self, h: int, w: int, side: Optional[int] = None) -> tuple[int, int]:
        """The size of the downscaled copy the network sees for an input above `side` (default:
        the analysis size)."""
        factor = (side or self.analysis_size) / max(h, w)
        return tuple(max(2 * self.input_multiple, int(n * factor) // self.input_multiple * self.input_multiple)
                     for n in (h, w))

    def _run_network(self, guide: np.ndarray, wrap, noise_mix: float, rng) -> tuple[np.ndarray, np.ndarray]:
        """guide (h, w, 3) -> output (2h, 2w, 3) in [0, 1], coords (2, 2h, 2w)."""
        h, w = guide.shape[:2]
        feeds = {
            "image": np.ascontiguousarray(guide.transpose(2, 0, 1)[None], dtype=np.float32),
            "wrap": np.array([float(wrap[0]), float(wrap[1])], np.float32),
            "noise_mix": np.array([noise_mix], np.float32),
            "noise": rng.standard_normal((1, 1, h // 4 + 1, w // 4 + 1), dtype=np.float32),
        }
        try:
            output, coords = self._session.run(["output", "coords"], feeds)
        except Exception as error:  # onnxruntime's own exception classes
            first = first_line(error)
            raise ExpandError(f"onnxruntime failed on a {w} x {h} input: {first}") from None
        if output.shape != (1, 3, 2 * h, 2 * w) or coords.shape != (1, 2, 2 * h, 2 * w):
            raise ExpandError(f"model {self.model.name} returned output {output.shape} and coords "
                              f"{coords.shape} for a {w} x {h} input; the contract wants (1, 3, {2 * h}, "
                              f"{2 * w}) and (1, 2, {2 * h}, {2 * w})")
        return np.clip(output[0].transpose(1, 2, 0), 0.0, 1.0), coords[0]


# --- helpers (pure functions, shared by nothing else) ------------------------------------------
def _options(scale, size, seamless, seed, noise_mix, synthesis) -> ExpandOptions:
    """One ExpandOptions from expand's arguments: given as the object, or as keywords."""
    if isinstance(scale, ExpandOptions):
        if (size, seamless, seed, noise_mix, synthesis) != (None, None, 0, 0.0, "coherent"):
            raise ExpandError("give an ExpandOptions or keyword options, not both; got "
                              f"{scale!r} and size={size!r}, seamless={seamless!r}, seed={seed!r}, "
                              f"noise_mix={noise_mix!r}, synthesis={synthesis!r}")
        return scale
    return ExpandOptions(scale=scale, size=size, seamless=seamless, seed=seed, synthesis=synthesis,
                         variation=opts.VARIATION.check(noise_mix, "noise_mix"))


@dataclass
class _LayerStack:
    """What an expansion moves: [RGB (grey replicated) | alpha | companion channels], (H, W, C)
    float32, kept as its sources in their own dtype (uint8, uint16 or float32: `image` and the
    companions' pixels) and built in float32 whole (float_layers) or for a block of copied
    pixels (gather)."""

    image: np.ndarray  # (H, W, channels), C-contiguous, uint8 / uint16 / float32
    channels: int  # of the image: 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA
    alpha: int  # alpha channels (0 or 1)
    maps: list  # the companions (Companion, pixels as (H, W, C_i) in their own dtype)
    hdr: bool  # colour values outside [0, 1]

    @property
    def height(self) -> int:
        return self.image.shape[0]

    @property
    def width(self) -> int:
        return self.image.shape[1]

    @staticmethod
    def build(pixels, companions, min_side: int) -> "_LayerStack":
        image = _native("pixels", pixels)
        height, width, channels = image.shape
        if channels not in (1, 2, 3, 4):
            raise ExpandError(f"pixels must have 1 to 4 channels (grey, grey+alpha, RGB, RGBA); got {channels}")
        if min(height, width) < min_side:
            raise ExpandError(f"pixels must be at least {min_side} x {min_side}; got {width} x {height}")
        maps = _companions(companions, height, width)
        hdr = image.dtype == np.float32 and _outside_unit(image[:, :, :3 if channels >= 3 else 1])
        return _LayerStack(image, channels, 1 if channels in (2, 4) else 0, maps, bool(hdr))

    def float_layers(self) -> np.ndarray:
        """The whole stack, (H, W, C) float32."""
        return self._layers(_unit(self.image), [_unit(m.pixels) for m in self.maps])

    def gather(self, cy: np.ndarray, cx: np.ndarray, wrap) -> np.ndarray:
        """The stack at whole-pixel positions cy, cx (r, W') -> (r, W', C) float32: every source
        copied in its own dtype (warp.gather), then converted."""
        return self._layers(_unit(warp.gather(self.image, cy, cx, wrap)),
                            [_unit(warp.gather(m.pixels, cy, cx, wrap)) for m in self.maps])

    def lowpass(self, k: int, rows: int = 256) -> np.ndarray:
        """The stack's means over k x k blocks, (ceil(H / k), ceil(W / k), C) float32, by strips
        of rows (no whole float copy of a large input)."""
        step = max(1, rows // k) * k
        return np.concatenate([feather.lowpass(self._layers(_unit(self.image[r0:r0 + step]),
                                                            [_unit(m.pixels[r0:r0 + step]) for m in self.maps]), k)
                               for r0 in range(0, self.height, step)], axis=0)

    def _layers(self, image: np.ndarray, maps: list) -> np.ndarray:
        channels = self.channels
        colour = image[:, :, :3] if channels >= 3 else np.repeat(image[:, :, :1], 3, axis=2)
        alpha = image[:, :, channels - 1:] if channels in (2, 4) else image[:, :, :0]
        return np.concatenate([colour, alpha] + maps, axis=2)

    def guide(self) -> np.ndarray:
        """What the network and the synthesis stage see: the colour (grey replicated), (H, W, 3)
        in the image's own dtype; HDR: compressed into [0, 1] (compress_hdr), float32."""
        image, channels = self.image, self.channels
        if self.hdr:
            colour = image[:, :, :3] if channels >= 3 else np.repeat(image[:, :, :1], 3, axis=2)
            return compress_hdr(colour)
        if image.dtype == np.float32:
            colour = image[:, :, :3] if channels >= 3 else np.repeat(image[:, :, :1], 3, axis=2)
            return np.clip(colour, 0.0, 1.0)
        if channels == 3:
            return image
        if channels == 4:
            return np.ascontiguousarray(image[:, :, :3])
        return np.repeat(image[:, :, :1], 3, axis=2)

    def split(self, layers: np.ndarray) -> tuple[np.ndarray, list]:
        """The expanded stack (whole, or a block of rows) back into the image (its own channels)
        and the companions; every step is per pixel."""
        colour = layers[:, :, :3]
        if self.channels <= 2:
            colour = colour.mean(axis=2, keepdims=True)
        image = np.ascontiguousarray(np.concatenate([colour, layers[:, :, 3:3 + self.alpha]], axis=2),
                                     dtype=np.float32)
        keep = image[:, :, image.shape[2] - self.alpha:] if self.hdr else image  # HDR colour is kept as is
        np.clip(keep, 0.0, 1.0, out=keep)
        results, at = [], 3 + self.alpha
        for m in self.maps:
            part = np.ascontiguousarray(layers[:, :, at:at + m.pixels.shape[2]])
            at += m.pixels.shape[2]
            results.append(renormalize_normals(part) if m.normal else part)
        return image, results


def _check_progress(progress) -> None:
    if progress is not None and not callable(progress):
        raise ExpandError(f"progress must be a callable (done, total) -> bool; got {progress!r}")


class _Progress:
    """Counts steps and reports them: progress(done, total) -> False cancels (ExpandCancelled)."""

    def __init__(self, progress: Optional[ProgressCallback], total: int):
        self.progress, self.total, self.done = progress, total, 0
        self._report()

    def __call__(self) -> None:
        self.done += 1
        self._report()

    def _report(self) -> None:
        if self.progress is not None and self.progress(self.done, self.total) is False:
            raise ExpandCancelled(f"cancelled after {self.done} of {self.total} steps")


def _guide(colour: np.ndarray, hdr: bool) -> np.ndarray:
    """What the network sees: the colour in [0, 1] (HDR compressed first)."""
    return compress_hdr(colour) if hdr else np.clip(colour, 0.0, 1.0)


def compress_hdr(colour: np.ndarray) -> np.ndarray:
    """Extended Reinhard x (1 + x / white^2) / (1 + x), white = the image's maximum: maps [0, white]
    onto [0, 1] keeping dark values nearly linear, so the network sees the whole range."""
    x = np.maximum(colour, 0.0)
    white = max(float(x.max()), 1.0)
    return (x * (1.0 + x / (white * white)) / (1.0 + x)).astype(np.float32)


def renormalize_normals(pixels: np.ndarray) -> np.ndarray:
    """Blending unit normals shortens them; decode (2v - 1), rescale xyz to length 1, re-encode."""
    out = np.array(pixels, dtype=np.float32, copy=True)
    if out.shape[2] < 3:
        return out
    vectors = out[:, :, :3] * 2.0 - 1.0
    length = np.linalg.norm(vectors, axis=2, keepdims=True)
    np.divide(vectors, length, out=vectors, where=length > 1e-6)
    out[:, :, :3] = np.clip(vectors * 0.5 + 0.5, 0.0, 1.0)
    return out


_SCAN_ROWS = 512  # rows per chunk when a float input is checked (no full-size temporary)


def _native(name: str, pixels) -> np.ndarray:
    """pixels as (H, W, C), C-contiguous, in their own dtype: uint8, uint16, or float32 (other
    floats converted once, the values the float32 stack would hold); finite values only."""
    if not isinstance(pixels, np.ndarray):
        raise ExpandError(f"{name} must be a numpy array (H, W[, C]); got {type(pixels).__name__}")
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    if pixels.ndim != 3 or pixels.size == 0:
        raise ExpandError(f"{name} must have shape (H, W) or (H, W, C); got {pixels.shape}")
    if pixels.dtype in (np.uint8, np.uint16):
        return np.ascontiguousarray(pixels)
    if not np.issubdtype(pixels.dtype, np.floating):
        raise ExpandError(f"{name} must be float, uint8 or uint16; got {pixels.dtype}")
    out = np.ascontiguousarray(pixels, dtype=np.float32)
    for r0 in range(0, out.shape[0], _SCAN_ROWS):
        if not np.all(np.isfinite(out[r0:r0 + _SCAN_ROWS])):
            raise ExpandError(f"{name} must be finite; it has NaN or infinite values")
    return out


def _outside_unit(values: np.ndarray) -> bool:
    """Whether any value lies outside [0, 1], checked by chunks of rows."""
    return any(bool(chunk.max() > 1.0 or chunk.min() < 0.0)
               for chunk in (values[r0:r0 + _SCAN_ROWS] for r0 in range(0, values.shape[0], _SCAN_ROWS)))


def _companions(companions, height: int, width: int) -> list[Companion]:
    if isinstance(companions, (np.ndarray, Companion)):
        companions = [companions]
    maps = []
    for i, item in enumerate(companions):
        companion = item if isinstance(item, Companion) else Companion(item)
        pixels = _native(f"companions[{i}]", companion.pixels)
        if pixels.shape[:2] != (height, width):
            raise ExpandError(f"companions[{i}] must be {width} x {height} like the image; "
                              f"got {pixels.shape[1]} x {pixels.shape[0]}")
        maps.append(Companion(pixels, bool(companion.normal)))
    return maps


def target_size(width: int, height: int, scale, size) -> tuple[int, int]:
    """(height, width) of the result (ExpandOptions.target_size, kept for callers by keyword)."""
    return ExpandOptions(scale=scale, size=size).target_size(width, height)


def _plan_passes(height: int, width: int, target: tuple[int, int], wrap) -> list[tuple[int, int, tuple]]:
    """[(pass input h, w, sizes to keep after the pass)] for the fewest 2x passes reaching target.

    Between passes an ordinary axis is cropped (around the input) to what the remaining passes
    need, so a long thin target does not grow the short axis 2^k-fold."""
    passes = 1
    while (height << passes) < target[0] or (width << passes) < target[1]:
        passes += 1
    plan, h, w = [], height, width
    for i in range(passes):
        remaining = passes - 1 - i
        keep = []
        for n, t, size, wraps in ((height, target[0], 2 * h, wrap[0]), (width, target[1], 2 * w, wrap[1])):
            if wraps:  # one whole period, resampled to the target at the end
                need = size
            elif remaining == 0:
                need = t
            else:  # what the remaining passes need, never less than the original input
                need = max(math.ceil(t / (1 << remaining)), n)
            keep.append(min(size, need))
        plan.append((h, w, tuple(keep)))
        h, w = keep
    return plan


def _crop_around(layers, offset, keep, input_size, wrap):
    """Crop ordinary axes to `keep`, centred on the original input (clamped inside)."""
    slices, new_offset = [], []
    for axis in (0, 1):
        size, k, off, n = layers.shape[axis], keep[axis], offset[axis], input_size[axis]
        if wrap[axis] or k >= size:
            slices.append(slice(None))
            new_offset.append(off)
            continue
        start = min(max(off - (k - n) // 2, 0), size - k)
        slices.append(slice(start, start + k))
        new_offset.append(off - start)
    return layers[slices[0], slices[1]], new_offset


def _fit_seamless(layers, target, wrap):
    """On a seamless axis the canvas is one period: reach the target by periodic resampling."""
    h, w = layers.shape[:2]
    if (h, w) == tuple(target):
        return layers
    return periodic_resize(layers, target[0], target[1], wrap)
