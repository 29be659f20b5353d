"""Typed YAML configs and --set overrides."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
import yaml

from hrtrack.config import dump_config, from_dict, load_config, parse_overrides
from hrtrack.errors import HrtrackError
from hrtrack.models import load_model_config


@dataclass(frozen=True)
class Inner:
    lr: float = 1e-3
    steps: tuple[int, ...] = (170, 200)


@dataclass(frozen=True)
class Outer:
    name: str
    inner: Inner = field(default_factory=Inner)
    flag: bool = False


def test_model_configs_load_with_overrides():
    cfg = load_model_config("w48_384x288", ["num_joints=15"])
    assert (cfg.width, cfg.num_joints, cfg.input_size, cfg.heatmap_size, cfg.sigma) == (48, 15, (288, 384), (72, 96), 3.0)


def test_nested_overrides_and_types():
    cfg = from_dict(Outer, {"name": "a", "inner": {"steps": [10, 15]}})
    assert cfg.inner == Inner(1e-3, (10, 15))
    over = parse_overrides(["inner.lr=1e-4", "flag=true", "name=x"])
    assert over == {"inner": {"lr": "1e-4"}, "flag": True, "name": "x"}
    # YAML 1.1 reads 1e-4 as a string; the typed field takes it as the number.
    assert from_dict(Outer, over).inner.lr == 1e-4


@pytest.mark.parametrize("data,message", [
    ({"name": "a", "bogus": 1}, "unknown key 'bogus'"),
    ({"name": 3}, "name: expected a string, got 3"),
    ({"name": "a", "inner": {"lr": "fast"}}, "inner.lr: expected a number, got 'fast'"),
    ({"name": "a", "flag": "yes"}, "flag: expected true or false"),
    ({}, "missing key 'name'"),
])
def test_bad_configs_name_the_key(data, message):
    with pytest.raises(HrtrackError, match=message):
        from_dict(Outer, data)


def test_bad_overrides():
    with pytest.raises(HrtrackError, match="key=value"):
        parse_overrides(["novalue"])
    with pytest.raises(HrtrackError, match="unknown key 'depth'"):
        load_model_config("w32_256x192", ["depth=3"])
    with pytest.raises(HrtrackError, match="width: expected an integer"):
        load_model_config("w32_256x192", ["width=wide"])
    with pytest.raises(HrtrackError, match="unknown config 'w99'"):
        load_model_config("w99")


def test_yaml_path_and_dump_round_trip(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: run\ninner:\n  steps: [1, 2]\n")
    cfg = load_config(Outer, path, "models", ["inner.lr=0.5"])
    dump_config(cfg, tmp_path / "out.yaml")
    assert yaml.safe_load((tmp_path / "out.yaml").read_text()) == {"name": "run", "inner": {"lr": 0.5, "steps": [1, 2]}, "flag": False}
    (tmp_path / "bad.yaml").write_text("name: [unclosed\n")
    with pytest.raises(HrtrackError, match="not valid YAML"):
        load_config(Outer, tmp_path / "bad.yaml", "models")
