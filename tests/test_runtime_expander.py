"""Expander with tiny synthetic ONNX graphs (transposer.runtime.synthetic): sizes, seamless,
large inputs (warp and tiles), bit depth, HDR, companions, alpha, grey, progress, validation and
set-up errors. Tests of the network's own arrangement ask for synthesis="network"; the synthesis
stage has its own tests (test_synthesis.py)."""

import threading

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from transposer.runtime import Companion, ExpandCancelled, ExpandError, Expander  # noqa: E402
from transposer.runtime import session as session_module  # noqa: E402
from transposer.runtime.synthetic import write_synthetic_model  # noqa: E402


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    return {kind: write_synthetic_model(folder / f"{kind}.onnx", kind) for kind in ("edge", "tile")}


@pytest.fixture(scope="module")
def edge(models):
    return Expander(models["edge"], device="cpu", threads=1)


@pytest.fixture(scope="module")
def tile(models):
    return Expander(models["tile"], device="cpu", threads=1)


def random_image(h, w, c=3, seed=0):
    return np.random.default_rng(seed).random((h, w, c)).astype(np.float32)


def test_reports_the_provider_really_active(edge):
    assert edge.provider == edge._session.get_providers()[0] == "CPUExecutionProvider"
    assert edge.input_multiple == 8 and edge.min_side == 16
    assert edge.expand(random_image(16, 16)).provider == "CPUExecutionProvider"


@pytest.mark.parametrize("kwargs,expected", [
    ({}, (64, 96)),
    ({"scale": 3}, (96, 144)),
    ({"scale": 2.5}, (80, 120)),
    ({"size": (200, 40)}, (40, 200)),  # non-square, three passes on x, crop on y
    ({"size": (48, 100)}, (100, 48)),  # one axis unchanged
])
def test_output_sizes(edge, kwargs, expected):
    image = random_image(32, 48)
    out = edge.expand(image, **kwargs).image
    assert out.shape == (*expected, 3)
    # the input sits exactly in the centre of the result
    top, left = (expected[0] - 32) // 2, (expected[1] - 48) // 2
    np.testing.assert_array_equal(out[top:top + 32, left:left + 48], image)


def test_result_matches_the_network_output(edge):
    # the edge graph replicates edges: the result must be exactly that (not e.g. the fallback)
    image = random_image(24, 40)  # 24 is a multiple of 8, 40 too: no padding
    ref = np.pad(image, [(12, 12), (20, 20), (0, 0)], mode="edge")
    np.testing.assert_allclose(edge.expand(image, synthesis="network").image, ref, atol=1e-6)


def test_padding_to_the_input_multiple_is_cropped_away(edge):
    image = random_image(21, 35)  # neither side a multiple of 8
    out = edge.expand(image).image
    assert out.shape == (42, 70, 3)
    np.testing.assert_array_equal(out[10:31, 17:52], image)


@pytest.mark.parametrize("seamless,axes", [("y", (0,)), ("x", (1,)), ("xy", (0, 1))])
def test_seamless_output_tiles_without_a_seam(edge, seamless, axes):
    image = random_image(32, 40)
    out = edge.expand(image, seamless=seamless, synthesis="network").image
    for axis in (0, 1):
        period = image.shape[axis]
        shifted = np.roll(out, -period, axis=axis)
        if axis in axes:  # periodic with the input's period: the wrap-around is an inner edge
            np.testing.assert_allclose(shifted, out, atol=1e-6)
        else:
            assert not np.allclose(shifted, out, atol=1e-3)


def test_seamless_with_a_size_that_is_not_a_multiple_stays_tileable(edge):
    image = random_image(30, 32)
    image = (image + np.roll(image, 1, 0) + np.roll(image, -1, 0)) / 3  # smooth, itself tileable on y
    out = edge.expand(image, seamless="y", synthesis="network").image
    assert out.shape == (60, 64, 3)
    jump = np.abs(out[0] - out[-1]).mean()
    inner = np.abs(np.diff(out, axis=0)).mean()
    assert jump < 2 * inner


def test_tiled_equals_untiled_with_a_local_model(models):
    image = random_image(96, 80, 4, seed=5)  # RGBA: alpha goes through the coords path too
    tiled = Expander(models["edge"], device="cpu", threads=1, analysis_size=64, large="tiles")
    whole = Expander(models["edge"], device="cpu", threads=1, analysis_size=4096)
    steps = []
    a = tiled.expand(image, scale=3, progress=lambda d, t: steps.append((d, t)), synthesis="network").image
    b = whole.expand(image, scale=3, synthesis="network").image
    assert a.shape == b.shape == (288, 240, 4)
    np.testing.assert_allclose(a, b, atol=1e-5)
    assert steps[-1][0] == steps[-1][1] > 10  # many tiles ran
    np.testing.assert_array_equal(a[96:192, 80:160], image)  # the known centre, exactly


@pytest.mark.parametrize("seamless", [None, "xy"])
def test_warped_large_input_matches_the_full_network_for_copies(models, seamless):
    # the tile graph's output is made of translated copies: coordinates computed on a half-size
    # copy and upsampled must reproduce the full-resolution run exactly, seams included
    image = random_image(128, 96, 4, seed=11)
    warped = Expander(models["tile"], device="cpu", threads=1, analysis_size=64)
    whole = Expander(models["tile"], device="cpu", threads=1, analysis_size=4096)
    steps = []
    a = warped.expand(image, seamless=seamless, progress=lambda d, t: steps.append((d, t)), synthesis="network").image
    b = whole.expand(image, seamless=seamless, synthesis="network").image
    np.testing.assert_allclose(a, b, atol=1e-6)
    assert steps[-1] == (2, 2)  # one network call + one block of rows (256 rows)


def test_warped_companions_follow_the_colour(models):
    image = random_image(160, 128, seed=12)
    roughness = image[:, :, 1:2] * 0.5 + 0.25  # linear: commutes with bilinear sampling
    result = Expander(models["edge"], device="cpu", threads=1, analysis_size=64).expand(image, companions=[roughness], synthesis="network")
    np.testing.assert_allclose(result.companions[0], result.image[:, :, 1:2] * 0.5 + 0.25, atol=1e-5)
    np.testing.assert_array_equal(result.image[80:240, 64:192], image)


def test_tiled_seamless_has_no_seam(models):
    image = random_image(80, 80, seed=6)
    out = Expander(models["edge"], device="cpu", threads=1, analysis_size=64, large="tiles").expand(
        image, seamless="xy", synthesis="network").image
    np.testing.assert_array_equal(out[40:120, 40:120], image)
    plain = np.pad(image, [(40, 40), (40, 40), (0, 0)], mode="edge")
    assert np.abs(out[0] - out[-1]).mean() < 0.4 * np.abs(plain[0] - plain[-1]).mean()
    assert np.abs(out[:, 0] - out[:, -1]).mean() < 0.4 * np.abs(plain[:, 0] - plain[:, -1]).mean()


def test_sixteen_bit_and_float_values_are_not_cut_to_eight_bits(tile):
    levels = (np.arange(32 * 32 * 3) % 65536).astype(np.uint16).reshape(32, 32, 3) * 7
    out = tile.expand(levels).image  # uint16 in -> float out, 16-bit steps kept
    np.testing.assert_array_equal(out[16:48, 16:48], levels / np.float32(65535))
    fine = np.full((32, 32, 3), 1000.5 / 65535, np.float32)
    out = tile.expand(fine).image
    assert np.allclose(out, fine[0, 0, 0], atol=1e-7)  # 8-bit would round to 4/255 or 3/255


def test_hdr_values_are_carried_through_the_coords(tile):
    image = random_image(32, 32) * 40.0  # up to 40: far above 1
    out = tile.expand(image, synthesis="network").image
    assert out.max() > 30
    np.testing.assert_allclose(out, np.pad(image, [(16, 16), (16, 16), (0, 0)], mode="wrap"), rtol=1e-5, atol=1e-4)


def test_companions_stay_registered_with_the_guide(tile):
    image = random_image(32, 40, seed=7)
    height = image[:, :, :1] * 0.5 + 0.25  # a map that is a function of the guide...
    normal = np.dstack([image[:, :, :2], np.ones((32, 40, 1), np.float32)])
    result = tile.expand(image, companions=[height, Companion(normal, normal=True)], synthesis="network")
    out = result.image
    # ...must be the same function of the arranged guide, pixel for pixel
    np.testing.assert_allclose(result.companions[0], out[:, :, :1] * 0.5 + 0.25, atol=1e-5)
    vectors = result.companions[1] * 2 - 1
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=2), 1.0, atol=1e-3)
    # the arrangement really moved things: the tile graph puts the input's far corner top-left
    np.testing.assert_allclose(result.companions[0][:16, :20], height[16:, 20:], atol=1e-5)


def test_alpha_and_grey_keep_their_channels(tile):
    rgba = random_image(16, 24, 4, seed=8)
    out = tile.expand(rgba, synthesis="network").image
    assert out.shape == (32, 48, 4)
    np.testing.assert_allclose(out[:, :, 3], np.pad(rgba[:, :, 3], [(8, 8), (12, 12)], mode="wrap"), atol=1e-5)
    grey = random_image(16, 24, 1, seed=9)
    out = tile.expand(grey[:, :, 0], synthesis="network").image
    assert out.shape == (32, 48, 1)
    np.testing.assert_allclose(out[:, :, 0], np.pad(grey[:, :, 0], [(8, 8), (12, 12)], mode="wrap"), atol=1e-6)


def test_progress_can_cancel(models):
    expander = Expander(models["edge"], device="cpu", threads=1, analysis_size=64, large="tiles")
    seen = []

    def stop_after_three(done, total):
        seen.append(done)
        return done < 3

    with pytest.raises(ExpandCancelled):
        expander.expand(random_image(96, 96), progress=stop_after_three)
    assert seen == [0, 1, 2, 3]


def test_one_expander_serves_several_threads(tile):
    images = [random_image(32, 32, seed=s) for s in range(4)]
    expected = [tile.expand(im).image for im in images]
    results = [None] * 4

    def work(i):
        results[i] = tile.expand(images[i]).image

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got, want in zip(results, expected):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("kwargs,words", [
    ({"scale": 0}, ["scale", "(1, 16]", "0"]),
    ({"scale": 1.0}, ["scale", "1"]),
    ({"scale": 2, "size": (64, 64)}, ["scale or size"]),
    ({"size": (20, 64)}, ["size", "32 x 32", "20 x 64"]),
    ({"size": "big"}, ["size", "'big'"]),
    ({"seamless": "z"}, ["seamless", "'z'"]),
    ({"seed": -1}, ["seed", "-1"]),
    ({"noise_mix": 2.0}, ["noise_mix", "[0.0, 1.0]", "2.0"]),
    ({"companions": [np.zeros((8, 8))]}, ["companions[0]", "32 x 32", "8 x 8"]),
])
def test_bad_options_name_parameter_range_and_value(edge, kwargs, words):
    with pytest.raises(ExpandError) as info:
        edge.expand(random_image(32, 32), **kwargs)
    for word in words:
        assert word in str(info.value)


def test_bad_pixels(edge):
    with pytest.raises(ExpandError, match="at least 16 x 16; got 8 x 8"):
        edge.expand(random_image(8, 8))
    with pytest.raises(ExpandError, match="finite"):
        edge.expand(np.full((16, 16, 3), np.nan, np.float32))
    with pytest.raises(ExpandError, match="channels"):
        edge.expand(random_image(16, 16, 5))


@pytest.mark.parametrize("kwargs,words", [
    ({"device": "gpu"}, ["device", "auto, cpu, cuda", "'gpu'"]),
    ({"threads": 0}, ["threads", "[1, 1024]", "0"]),
    ({"analysis_size": 10}, ["analysis_size", "[64, 16384]", "10"]),
    ({"large": "huge"}, ["large", "warp, tiles", "'huge'"]),
    ({"model": "no-such-model"}, ["model", "'no-such-model'"]),
])
def test_build_time_validation(models, kwargs, words):
    options = {"model": models["edge"], **kwargs}
    with pytest.raises(ExpandError) as info:
        Expander(**options)
    for word in words:
        assert word in str(info.value)


def test_cuda_request_fails_clearly_without_cuda(models):
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this onnxruntime has CUDA; the check is for CPU-only machines")
    with pytest.raises(ExpandError, match="cuda"):
        Expander(models["edge"], device="cuda")
    assert Expander(models["edge"], device="auto").provider == "CPUExecutionProvider"


def test_both_onnxruntime_builds_installed_is_a_clear_error(models, monkeypatch):
    real = session_module.importlib.metadata.distribution
    monkeypatch.setattr(session_module.importlib.metadata, "distribution",
                        lambda name: object() if name in ("onnxruntime", "onnxruntime-gpu") else real(name))
    with pytest.raises(ExpandError, match="uninstall"):
        Expander(models["edge"])


def test_registry_models_are_checked_against_their_sha256(models, tmp_path, monkeypatch):
    import json
    import shutil

    shutil.copy(models["edge"], tmp_path / "edge.onnx")
    digest = session_module.sha256(tmp_path / "edge.onnx")
    (tmp_path / "registry.json").write_text(json.dumps({"synthetic": {"file": "edge.onnx", "sha256": digest}}))
    monkeypatch.setattr(session_module, "MODELS_DIR", tmp_path)
    monkeypatch.setattr(session_module, "REGISTRY", tmp_path / "registry.json")
    assert Expander("synthetic", device="cpu").model.name == "synthetic"
    with open(tmp_path / "edge.onnx", "ab") as handle:
        handle.write(b"\0")  # a damaged file
    with pytest.raises(ExpandError, match="sha256"):
        Expander("synthetic", device="cpu")


def test_a_graph_that_is_not_a_transposer_model_is_rejected(tmp_path):
    from onnx import TensorProto, helper, save

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    save(model, str(tmp_path / "other.onnx"))
    with pytest.raises(ExpandError, match="not a transposer model"):
        Expander(tmp_path / "other.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"not onnx")
    with pytest.raises(ExpandError, match="cannot be loaded"):
        Expander(tmp_path / "junk.onnx")
