"""Prediction files written as real trackers write them, which poseval scores: the same numbers as their
canonical form. And the evaluate path stays free of pandas and motmetrics.

poseval (leonid-pishchulin/poseval, `eval_helpers.load_data_dir` / `assignGTmulti`)
pairs prediction frames with the ground truth by index and never reads a frame's
`image`, `imgnum` or `is_labeled`, a person's `score`, nor a predicted head box. A
real tracker's PoseTrack 2017-style file for a PoseTrack 2018 video (issue 23) gives
`image` as an object, `imgnum` as a list and `.png` image names.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hrtrack.cli import main
from hrtrack.evaluation.posetrack import evaluate_folders, head_sizes
from hrtrack.formats.posetrack import (PoseTrackFrame, PoseTrackSequence, read_sequence, sequence_files,
                                       write_posetrack17)


def _predict(truth: PoseTrackFrame, rng: np.random.Generator) -> PoseTrackFrame:
    """A tracker-like prediction: jittered joints, some dropped, joint and person scores, shifted ids."""
    size = np.nan_to_num(head_sizes(truth.head_boxes), nan=20.0)
    kp = truth.keypoints + rng.normal(0, 0.25, truth.keypoints.shape) * size[:, None, None]
    vis = truth.visible & (rng.random(truth.visible.shape) > 0.1)
    n = len(truth)
    return PoseTrackFrame(truth.image, truth.is_labeled, kp, vis, np.where(vis, rng.random(vis.shape), np.nan),
                          truth.track_ids + 7, rng.random(n), np.full((n, 4), np.nan), np.full((n, 4), np.nan))


@pytest.fixture(scope="module")
def canonical(synthetic_dataset, tmp_path_factory) -> tuple[Path, Path]:
    """(ground-truth folder, folder of canonical PoseTrack 2017 predictions of it)."""
    gt = synthetic_dataset.root / "annotations" / "posetrack17" / "val"
    pred = tmp_path_factory.mktemp("canonical")
    rng = np.random.default_rng(3)
    for name, path in sequence_files(gt).items():
        seq = read_sequence(path)
        write_posetrack17(PoseTrackSequence(name, [_predict(f, rng) for f in seq.frames], seq.vid_id),
                          pred / f"{name}.json")
    return gt, pred


def _image_as_object(frame: dict, index: int) -> None:
    frame["image"] = frame["image"][0]


def _imgnum_zero_based(frame: dict, index: int) -> None:
    frame["imgnum"] = [index]


def _imgnum_bare(frame: dict, index: int) -> None:
    frame["imgnum"] = index


def _png_names(frame: dict, index: int) -> None:
    frame["image"][0]["name"] = frame["image"][0]["name"].rsplit(".", 1)[0] + ".png"


def _bare_flag_scores_and_boxes(frame: dict, index: int) -> None:
    frame["is_labeled"] = frame["is_labeled"][0]
    for rect in frame["annorect"]:
        rect["score"] = rect["score"][0]
        rect.update(x1=10, y1=20.5, x2=40, y2=60.5)     # a predicted head box: poseval never reads one


def _as_the_real_file(frame: dict, index: int) -> None:
    """All at once, as the real tracker's file: {"name": "....png"} and a list imgnum."""
    _png_names(frame, index)
    _image_as_object(frame, index)
    _imgnum_zero_based(frame, index)


QUIRKS = {"image as an object": _image_as_object, "imgnum as a zero-based list": _imgnum_zero_based,
          "imgnum bare": _imgnum_bare, ".png image names": _png_names,
          "bare is_labeled, person scores and head boxes": _bare_flag_scores_and_boxes,
          "the real file": _as_the_real_file}


def _rewrite(src: Path, dst: Path, edit) -> None:
    dst.mkdir()
    for name, path in sequence_files(src).items():
        data = json.loads(path.read_text())
        for index, frame in enumerate(data["annolist"]):
            edit(frame, index)
        (dst / f"{name}.json").write_text(json.dumps(data))


@pytest.mark.parametrize("quirk", list(QUIRKS))
def test_quirky_predictions_score_as_their_canonical_form(canonical, tmp_path, quirk):
    gt, pred = canonical
    _rewrite(pred, tmp_path / "quirky", QUIRKS[quirk])
    expected = evaluate_folders(gt, pred, progress=False, hota=True).summary()
    assert 0 < expected["mAP"]["Total"] < 100 and 0 < expected["MOTA"]["Total"] < 100
    assert evaluate_folders(gt, tmp_path / "quirky", progress=False, hota=True).summary() == expected
    # and through the command line, as a user runs it
    out = tmp_path / "scores.json"
    assert main(["evaluate", "--gt", str(gt), "--pred", str(tmp_path / "quirky"), "--json", str(out),
                 "--no-progress"]) == 0
    assert json.loads(out.read_text())["mAP"] == json.loads(json.dumps(expected["mAP"]))


def test_quirky_frames_read_their_image_names(canonical, tmp_path):
    _rewrite(canonical[1], tmp_path / "quirky", _as_the_real_file)
    for name, path in sequence_files(tmp_path / "quirky").items():
        quirky, plain = read_sequence(path), read_sequence(canonical[1] / f"{name}.json")
        assert all(f.image.endswith(".jpg") for f in plain.frames)
        assert [f.image for f in quirky.frames] == [f.image[:-4] + ".png" for f in plain.frames]
        assert quirky.vid_id == plain.vid_id


def _one_line_error(capsys, gt: Path, pred: Path) -> str:
    assert main(["evaluate", "--gt", str(gt), "--pred", str(pred), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    return err


def _break_first(pred: Path, tmp_path: Path, edit) -> tuple[Path, Path]:
    """A copy of the predictions with `edit` applied to the first file's parsed JSON."""
    broken = tmp_path / "broken"
    shutil.copytree(pred, broken)
    path = sorted(broken.glob("*.json"))[0]
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))
    return broken, path


def _crowded(data: dict) -> dict:
    return next(f for f in data["annolist"] if len(f["annorect"]) >= 2)


@pytest.mark.parametrize("edit, needle", [
    # poseval fails on these too: a KeyError on `image[0]` while it reports the duplicate id, a TypeError on
    # the bare score, a KeyError on the missing joint id; hrtrack names the file and the field in one line.
    (lambda d: (_image_as_object(_crowded(d), 0),
                _crowded(d)["annorect"][1].update(track_id=_crowded(d)["annorect"][0]["track_id"])),
     "appears 2 times in one frame"),
    (lambda d: d["annolist"][0]["annorect"][0]["annopoints"][0]["point"][0].update(score=0.5),
     "annolist[0].annorect[0].annopoints[0].point[0].score must be a one-element list"),
    (lambda d: d["annolist"][0]["annorect"][0]["annopoints"][0]["point"][0].pop("id"),
     "annolist[0].annorect[0].annopoints[0].point[0] has no 'id'"),
])
def test_what_poseval_rejects_stays_a_one_line_error(capsys, canonical, tmp_path, edit, needle):
    broken, path = _break_first(canonical[1], tmp_path, edit)
    err = _one_line_error(capsys, canonical[0], broken)
    assert str(path) in err and needle in err


@pytest.mark.parametrize("image, needle", [({"name": 7}, "annolist[1].image name must be a string"),
                                           ("frame.png", "annolist[1].image must be")])
def test_an_image_without_a_name_is_refused(capsys, canonical, tmp_path, image, needle):
    # poseval never reads `image`; hrtrack reads the frame's name from it, in either shape, and refuses others
    broken, path = _break_first(canonical[1], tmp_path, lambda d: d["annolist"][1].update(image=image))
    err = _one_line_error(capsys, canonical[0], broken)
    assert str(path) in err and needle in err


def test_evaluate_imports_neither_pandas_nor_motmetrics(canonical, tmp_path):
    # The predictions have crowds, so the assignment solver (scipy) runs; --hota runs its own solver too.
    driver = ("import sys\nfrom hrtrack.cli import main\n"
              f"rc = main(['evaluate', '--gt', {str(canonical[0])!r}, '--pred', {str(canonical[1])!r}, "
              "'--no-progress', '--hota'])\n"
              "print('RESULT', rc, *(m in sys.modules for m in ('pandas', 'motmetrics', 'scipy.optimize')))\n")
    done = subprocess.run([sys.executable, "-c", driver], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "RESULT 0 False False True"
