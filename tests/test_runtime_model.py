"""End to end with the shipped model (transposer/runtime/models, registry name "default").
Skipped until the model file is installed. Small inputs keep it to a few seconds on 2 cores."""

import json

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from transposer.runtime import Expander  # noqa: E402
from transposer.runtime.imageio import read_image  # noqa: E402
from transposer.runtime import warp  # noqa: E402
from transposer.runtime.session import MODELS_DIR, REGISTRY  # noqa: E402


def _installed() -> bool:
    try:
        entry = json.loads(REGISTRY.read_text())["default"]
    except (OSError, ValueError, KeyError):
        return False
    return (MODELS_DIR / entry["file"]).is_file()


pytestmark = pytest.mark.skipif(not _installed(), reason="the shipped model is not installed yet")

EXAMPLE = MODELS_DIR.parent.parent / "examples" / "cliff_rock.jpg"


@pytest.fixture(scope="module")
def expander():
    return Expander("default", device="cpu", threads=2)


@pytest.fixture(scope="module")
def texture():
    return read_image(EXAMPLE).pixels[64:192, 64:192, :3]  # 128 x 128


def test_metadata_and_contract(expander):
    assert expander.metadata.get("transposer.scale") == "2"
    assert expander.input_multiple >= 1
    assert expander.model.name == "default"


def test_expansion_keeps_the_centre_and_invents_the_frame(expander, texture):
    out = expander.expand(texture).image
    assert out.shape == (256, 256, 3) and out.dtype == np.float32
    assert 0.0 <= out.min() and out.max() <= 1.0
    np.testing.assert_array_equal(out[64:192, 64:192], texture)
    mirror = np.pad(texture, [(64, 64), (64, 64), (0, 0)], mode="reflect")
    assert np.abs(out - mirror).mean() > 1e-3  # not a plain padding
    # the frame has the input's colour statistics (same material), loosely
    frame = np.concatenate([out[:64].reshape(-1, 3), out[192:].reshape(-1, 3)])
    np.testing.assert_allclose(frame.mean(0), texture.reshape(-1, 3).mean(0), atol=0.1)


def test_coords_point_into_the_input_and_explain_the_output(expander, texture):
    feeds = {"image": np.ascontiguousarray(texture.transpose(2, 0, 1)[None]),
             "wrap": np.zeros(2, np.float32), "noise_mix": np.zeros(1, np.float32),
             "noise": np.zeros((1, 1, 33, 33), np.float32)}
    output, coords = expander._session.run(["output", "coords"], feeds)
    assert coords.shape == (1, 2, 256, 256)
    assert coords.min() >= -1.0 and coords.max() <= 128.0
    # the centre copies the input in place
    centre = coords[0, :, 64 + 8:192 - 8, 64 + 8:192 - 8]
    grid = np.mgrid[8:120, 8:120].astype(np.float32)
    assert np.median(np.abs(centre - grid)) < 1.0
    warped = warp.bilinear(texture, coords[0, 0], coords[0, 1])
    assert np.corrcoef(warped.ravel(), output[0].transpose(1, 2, 0).ravel())[0, 1] > 0.8


def test_companions_follow_the_colour_map(expander, texture):
    luminance = texture.mean(axis=2, keepdims=True)
    result = expander.expand(texture, companions=[luminance])
    arranged = result.companions[0][:, :, 0]
    network = result.image.mean(axis=2)
    # the luminance sampled at the network's coordinates is close to its output's luminance
    assert np.corrcoef(arranged.ravel(), network.ravel())[0, 1] > 0.8


def test_seamless_and_tiled_runs(expander, texture):
    out = expander.expand(texture, seamless="xy").image
    inner = np.abs(np.diff(out, axis=0)).mean()
    assert np.abs(out[0] - out[-1]).mean() < 2.5 * inner
    for large in ("warp", "tiles"):
        big = Expander("default", device="cpu", threads=2, analysis_size=64, large=large).expand(texture).image
        np.testing.assert_array_equal(big[64:192, 64:192], texture)
        assert big.shape == (256, 256, 3) and np.isfinite(big).all()
