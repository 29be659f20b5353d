"""`hrtrack demo --train`: the path that trains its own model, end to end.

The default demo (the reference model) is the tracking gate of tests/test_gates.py.
Here the reduced training of `hrtrack demo --quick --train` (shared with the training
gate) tracks the reduced demo's clips. Its scores depend on the CPU (streamed
training amplifies float rounding: an Intel and an AMD machine measured mAP 67.7 and
57.0), so they are held only to what no untrained or broken model reaches: an
untrained network scores mAP 0 and MOTA about -90 on these clips.
"""

from __future__ import annotations

import pytest

from hrtrack.cli import main
from hrtrack.demo import run_demo

pytestmark = pytest.mark.slow


def test_demo_with_its_own_training_tracks_and_reports_it(trained_quick, tmp_path, capsys):
    result = run_demo(trained_quick.settings, tmp_path / "out", progress=False, cache=trained_quick.cache)
    out = capsys.readouterr().out
    last = out.strip().splitlines()[-1]
    assert last.startswith("RESULT mAP=") and last.endswith("model=trained"), last
    assert "trained on this machine (400 steps of tiny.yaml)" in out
    assert result.weights == trained_quick.run / "final_state.pth"
    assert result.mAP > 30 and result.MOTA > 0, (result.mAP, result.MOTA)
    assert len(list(result.predictions.glob("*_synth_val.json"))) == trained_quick.settings.val_videos


def test_recipe_overrides_need_train(capsys):
    assert main(["demo", "--set", "model.dark=false", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--train" in err, err
