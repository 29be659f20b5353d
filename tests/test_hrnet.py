"""HRNet architecture: the paper's sizes, the official key layout, checkpoint loading."""

from __future__ import annotations

import pickle

import pytest
import torch

from hrtrack.errors import HrtrackError
from hrtrack.models import build_pose_model, fold_batchnorm, load_model_config, load_pose_weights
from hrtrack.models.complexity import count_macs, count_parameters
from hrtrack.models.hrnet import HRNET_SPECS, HRNetSpec, PoseHighResolutionNet


@pytest.fixture(scope="module")
def w32():
    torch.manual_seed(0)
    return build_pose_model("w32_256x192").eval()


@pytest.mark.parametrize("width,millions", [(32, 28.5), (48, 63.6)])
def test_parameter_count_equals_paper_table(width, millions):
    assert abs(count_parameters(PoseHighResolutionNet(HRNET_SPECS[f"w{width}"], 17)) / 1e6 - millions) <= 0.05


def test_gflops_in_paper_units_w32_256x192(w32):
    # Paper Table 1: 7.1 "GFLOPs" = multiply-accumulates / 2^30.
    assert round(count_macs(w32, (192, 256)) / 2 ** 30, 1) == 7.1


@pytest.mark.parametrize("name,joints,out_hw", [
    ("w32_256x192", 17, (64, 48)), ("w32_384x288", 17, (96, 72)), ("w48_256x192", 17, (64, 48)),
    ("w48_384x288", 17, (96, 72)), ("w32_256x256", 16, (64, 64)), ("w48_256x256", 16, (64, 64))])
def test_output_shape_per_config(name, joints, out_hw):
    cfg = load_model_config(name)
    assert cfg.num_joints == joints
    model = build_pose_model(name).eval()
    w, h = cfg.input_size
    with torch.no_grad():
        y = model(torch.zeros(1, 3, h, w))
    assert y.shape == (1, joints, *out_hw)
    assert tuple(cfg.heatmap_size[::-1]) == out_hw


def test_official_key_layout(w32):
    shapes = {k: tuple(v.shape) for k, v in w32.state_dict().items()}
    # Keys and shapes of the official pose_hrnet_w32 release, from its architecture:
    expected = {
        "conv1.weight": (64, 3, 3, 3), "bn2.running_var": (64,),
        "layer1.0.conv3.weight": (256, 64, 1, 1), "layer1.0.downsample.0.weight": (256, 64, 1, 1),
        "layer1.3.bn3.num_batches_tracked": (),
        "transition1.0.0.weight": (32, 256, 3, 3), "transition1.1.0.0.weight": (64, 256, 3, 3),
        "transition2.2.0.0.weight": (128, 64, 3, 3), "transition3.3.0.0.weight": (256, 128, 3, 3),
        "stage2.0.branches.1.3.conv2.weight": (64, 64, 3, 3),
        "stage2.0.fuse_layers.0.1.0.weight": (32, 64, 1, 1), "stage2.0.fuse_layers.1.0.0.0.weight": (64, 32, 3, 3),
        "stage3.3.fuse_layers.2.0.1.0.weight": (128, 32, 3, 3), "stage3.3.fuse_layers.2.0.0.0.weight": (32, 32, 3, 3),
        "stage4.2.fuse_layers.0.3.0.weight": (32, 256, 1, 1), "stage4.1.fuse_layers.3.2.0.1.running_mean": (256,),
        "final_layer.weight": (17, 32, 1, 1), "final_layer.bias": (17,),
    }
    for key, shape in expected.items():
        assert shapes.get(key) == shape, key
    # The last module of stage 4 fuses into the highest resolution only; no downsample in stages 2-4.
    assert not any(k.startswith("stage4.2.fuse_layers.1") for k in shapes)
    assert not any(".branches." in k and "downsample" in k for k in shapes)
    assert "transition1.0.0.bias" not in shapes and "transition2.0.0.weight" not in shapes


def _randomise_bn(model: torch.nn.Module, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)


def test_strict_round_trip_through_official_file(tmp_path, w32):
    _randomise_bn(w32)
    path = tmp_path / "pose_hrnet_w32_256x192.pth"
    torch.save(w32.state_dict(), path)
    fresh = build_pose_model("w32_256x192").eval()
    assert load_pose_weights(fresh, path) == "official"
    x = torch.randn(1, 3, 256, 192, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.equal(w32(x), fresh(x))


def test_dataparallel_mmpose_and_pre_041_layouts_load(tmp_path, w32):
    state = w32.state_dict()
    variants = {
        "dp.pth": {f"module.{k}": v for k, v in state.items()},
        "mmpose.pth": {"state_dict": {("keypoint_head." if k.startswith("final_layer") else "backbone.") + k: v
                                      for k, v in state.items()}, "meta": {"epoch": 210}},
        "old.pth": {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")},
    }
    x = torch.randn(1, 3, 256, 192)
    with torch.no_grad():
        ref = w32(x)
    for name, obj in variants.items():
        torch.save(obj, tmp_path / name)
        fresh = build_pose_model("w32_256x192").eval()
        load_pose_weights(fresh, tmp_path / name)
        with torch.no_grad():
            assert torch.equal(fresh(x), ref), name


def test_imagenet_backbone_loads_backbone_only(tmp_path, w32):
    state = {k: v for k, v in w32.state_dict().items() if not k.startswith("final_layer")}
    state["classifier.weight"] = torch.zeros(1000, 2048)
    state["incre_modules.0.0.conv1.weight"] = torch.zeros(32, 32, 1, 1)
    state["final_layer.0.weight"] = torch.zeros(2048, 1024, 1, 1)
    torch.save(state, tmp_path / "hrnet_w32_imagenet.pth")
    fresh = build_pose_model("w32_256x192")
    head_before = fresh.final_layer.weight.detach().clone()
    assert load_pose_weights(fresh, tmp_path / "hrnet_w32_imagenet.pth") == "imagenet"
    assert torch.equal(fresh.stage4[2].branches[0][0].conv1.weight, w32.stage4[2].branches[0][0].conv1.weight)
    assert torch.equal(fresh.final_layer.weight, head_before)


def test_wrong_checkpoint_gives_one_line_error_naming_fit(tmp_path, w32):
    torch.save(w32.state_dict(), tmp_path / "w32.pth")
    with pytest.raises(HrtrackError) as err:
        load_pose_weights(build_pose_model("w48_256x192"), tmp_path / "w32.pth")
    msg = str(err.value)
    assert "\n" not in msg
    assert "W32 model with 17 joints" in msg and "w32_256x192" in msg
    torch.save({"final_layer.weight": torch.zeros(17, 32, 1, 1), "bogus.weight": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(HrtrackError, match=r"missing conv1\.weight .*unexpected bogus\.weight"):
        load_pose_weights(build_pose_model("w32_256x192"), tmp_path / "bad.pth")
    with pytest.raises(HrtrackError, match="16 joints"):
        torch.save(build_pose_model("w32_256x256").state_dict(), tmp_path / "mpii.pth")
        load_pose_weights(build_pose_model("w32_256x192"), tmp_path / "mpii.pth")


class _Boom:
    def __reduce__(self):
        return (print, ("code ran",))


def test_pickle_that_executes_code_is_refused(tmp_path, capsys):
    path = tmp_path / "evil.pth"
    with open(path, "wb") as f:
        pickle.dump({"conv1.weight": _Boom()}, f)
    with pytest.raises(HrtrackError, match="refused to load"):
        load_pose_weights(build_pose_model("w32_256x192"), path)
    assert "code ran" not in capsys.readouterr().out


def test_not_a_state_dict_and_missing_file(tmp_path):
    torch.save([1, 2, 3], tmp_path / "list.pth")
    with pytest.raises(HrtrackError, match="not a state dict"):
        load_pose_weights(build_pose_model("w32_256x192"), tmp_path / "list.pth")
    with pytest.raises(HrtrackError, match="pose weights not found: .*nope.pth"):
        load_pose_weights(build_pose_model("w32_256x192"), tmp_path / "nope.pth")


def test_folded_equals_unfolded(w32):
    _randomise_bn(w32, seed=3)
    folded = fold_batchnorm(w32)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    x = torch.randn(2, 3, 256, 192, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        a, b = w32(x), folded(x)
    assert (a - b).abs().max().item() < 1e-4
    # Folding works on a copy: the original keeps its BatchNorms and official keys.
    assert "bn1.running_mean" in w32.state_dict()


def test_small_spec_builds_and_runs():
    model = PoseHighResolutionNet(HRNetSpec(width=8, stage_modules=(1, 1, 1), blocks_per_branch=1, stage1_blocks=1),
                                  5).eval()
    with torch.no_grad():
        assert model(torch.zeros(2, 3, 64, 64)).shape == (2, 5, 16, 16)


def test_a_narrow_stem_narrows_stage_one_and_keeps_the_key_names():
    small = PoseHighResolutionNet(HRNetSpec(width=8, stage_modules=(1, 1, 1), blocks_per_branch=1, stage1_blocks=1,
                                            stem_channels=16), 5)
    paper = PoseHighResolutionNet(HRNetSpec(width=8, stage_modules=(1, 1, 1), blocks_per_branch=1, stage1_blocks=1), 5)
    s, p = small.state_dict(), paper.state_dict()
    assert s.keys() == p.keys()
    # Stem 16: the stage-1 bottleneck is 16 -> 16 -> 64 wide (the paper: 64 -> 64 -> 256).
    assert s["conv2.weight"].shape == (16, 16, 3, 3) and p["conv2.weight"].shape == (64, 64, 3, 3)
    assert s["layer1.0.conv3.weight"].shape == (64, 16, 1, 1) and p["layer1.0.conv3.weight"].shape == (256, 64, 1, 1)
    assert s["transition1.0.0.weight"].shape == (8, 64, 3, 3)
    with torch.no_grad():
        assert small.eval()(torch.zeros(2, 3, 64, 64)).shape == (2, 5, 16, 16)


def test_kaiming_init_scales_convs_by_fan_out_and_keeps_the_heatmap_layer_near_zero():
    torch.manual_seed(0)
    model = PoseHighResolutionNet(HRNetSpec(width=32, stage_modules=(1, 1, 1), blocks_per_branch=1, stage1_blocks=1),
                                  17)
    official = {name: p.std().item() for name, p in model.named_parameters() if p.dim() == 4}
    assert all(abs(s - 0.001) < 1e-4 for s in official.values())
    model.init_weights("kaiming")
    w = dict(model.named_parameters())
    # He-normal, fan-out mode: std sqrt(2 / (out channels * kernel area)).
    assert w["conv2.weight"].std().item() == pytest.approx((2 / (64 * 9)) ** 0.5, rel=0.02)  # 36,864 weights
    assert w["layer1.0.conv3.weight"].std().item() == pytest.approx((2 / 256) ** 0.5, rel=0.02)
    assert w["final_layer.weight"].std().item() == pytest.approx(0.001, rel=0.2)
    assert torch.all(w["bn1.weight"] == 1) and torch.all(w["final_layer.bias"] == 0)
    with pytest.raises(HrtrackError, match="official or kaiming"):
        model.init_weights("xavier")
