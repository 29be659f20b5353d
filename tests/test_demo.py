"""The reduced `hrtrack demo` end to end, with lower bounds on its scores.

The bounds come from measured runs of this reduced setting (8 training clips of 30
frames, 3 epochs of the tiny HRNet: mAP 9.8, MOTA -32.9 on the two held-out clips)
with margin; an untrained model scores mAP 0 and MOTA about -93 there (it emits
junk joints or no one). The full `make demo` trains longer on more clips.
"""

from __future__ import annotations

import cv2
import pytest

from hrtrack.demo import run_demo

pytestmark = pytest.mark.slow


def test_reduced_demo_scores_far_above_an_untrained_model(demo_assets, tmp_path, capsys):
    result = run_demo(demo_assets.settings, tmp_path / "out", progress=False, cache=demo_assets.cache)
    out = capsys.readouterr().out
    assert "Average Precision (AP) metric" in out and "Multiple Object Tracking (MOT) metrics" in out
    assert out.strip().splitlines()[-1].startswith("RESULT mAP=")
    assert result.mAP >= 4.0
    assert result.MOTA >= -70.0
    cap = cv2.VideoCapture(str(result.video))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == demo_assets.settings.frames
    assert len(list(result.predictions.glob("*_synth_val.json"))) == demo_assets.settings.val_videos
