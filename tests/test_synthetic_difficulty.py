"""The generator's difficulty axes: the default is today's clip, each axis has the effect it names,
the hard preset's ground truth is valid, and bad settings end in one line naming the setting."""

from __future__ import annotations

import json
from dataclasses import replace

import cv2
import numpy as np
import pytest

from hrtrack.cli import main
from hrtrack.errors import HrtrackError
from hrtrack.formats.detections import read_coco_detections
from hrtrack.synthetic import (DIFFICULTY_PRESETS, SPLIT_BASE, Difficulty, SimulatedDetector, SyntheticFrame,
                               SyntheticVideo, generate_dataset, sample_script, simulate_detections)
from hrtrack.synthetic.body import RUN, SYNTH_JOINT_NAMES, WALK
from hrtrack.synthetic.difficulty import max_people
from hrtrack.synthetic.events import person_joints, present
from hrtrack.synthetic.scene import Effects

PELVIS = SYNTH_JOINT_NAMES.index("pelvis")
STILL = dict(pan=0.0, zoom_rate=0.0, shake=0.0)  # a camera that does not move
QUIET = Effects(noise_sigma=0.0, blur_gain=0.0, light_amplitude=0.0, light_period=100.0, light_phase=0.0)


def presence(video: SyntheticVideo) -> np.ndarray:
    """(P,T) whether each person is annotated in each frame of `video`."""
    out = np.zeros((len(video.script.bodies), len(video)), bool)
    for t in range(len(video)):
        out[video.render(t)[1].track_ids, t] = True
    return out


def runs(row: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of each run of True in a boolean row."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], row.astype(int), [0]])))
    return list(zip(edges[0::2].tolist(), edges[1::2].tolist()))


# ---------------------------------------------------------------- the default changes nothing

def test_default_difficulty_renders_the_clip_without_it():
    kw = dict(seed=4, number=SPLIT_BASE["val"] + 2, size=(320, 180), frames=16, people=(2, 6))
    plain, default = SyntheticVideo(**kw), SyntheticVideo(**kw, difficulty=Difficulty())
    detector_only = SyntheticVideo(**kw, difficulty=Difficulty(det_miss=0.5, det_run_length=3))
    for t in range(16):
        frame, truth = plain.render(t)
        for other in (default, detector_only):
            frame2, truth2 = other.render(t)
            np.testing.assert_array_equal(frame2, frame)
            for name in ("track_ids", "joints", "labeled", "boxes", "head_boxes"):
                np.testing.assert_array_equal(getattr(truth2, name), getattr(truth, name))


def test_default_difficulty_writes_the_same_files(tmp_path):
    opts = dict(videos=1, frames=8, size=(160, 96), people=(1, 3), splits=("val",), seed=2, progress=False)
    generate_dataset(tmp_path / "a", **opts)
    generate_dataset(tmp_path / "b", **opts, difficulty=DIFFICULTY_PRESETS["default"])
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert len(files) > 8
    for rel in files:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel


def test_a_detector_without_missed_runs_is_simulate_detections():
    video = SyntheticVideo(seed=1, number=SPLIT_BASE["val"], size=(320, 180), frames=10, people=(3, 5))
    detector = SimulatedDetector.for_clip(1, video)
    rng = np.random.default_rng([1, video.number, 1])
    for _, truth in video:
        ours = detector(truth)
        theirs = simulate_detections(truth, (320, 180), rng, miss=0.1, jitter=0.05, false_positives=0.3)
        np.testing.assert_array_equal(ours.boxes, theirs.boxes)
        np.testing.assert_array_equal(ours.scores, theirs.scores)


# ---------------------------------------------------------------- motion

def _across_walkers(video: SyntheticVideo) -> list[int]:
    """Walkers and runners heading mostly across the view (|sin yaw| > 0.9) who do not turn."""
    mo = video.script.motion
    straight = (mo.yaw == mo.yaw[:, :1]).all(axis=1)
    return [p for p in range(len(mo.action))
            if mo.action[p] in (WALK, RUN) and straight[p] and abs(np.sin(mo.yaw[p, 0])) > 0.9]


@pytest.mark.slow  # renders 72 frames of 8-10 people
@pytest.mark.parametrize("speed, size, fps", [(4.0, (640, 360), 25.0), (20.0, (640, 360), 25.0),
                                              (20.0, (320, 180), 50.0)])
def test_speed_is_the_pelvis_displacement_per_frame(speed, size, fps):
    """At S px/frame of a 1280x720, 25 fps video, the pelvis moves S x H/720 x 25/fps pixels a frame."""
    expected = speed * size[1] / 720 * 25 / fps
    ratios = []
    for seed in range(12):
        video = SyntheticVideo(seed=seed, number=7, size=size, frames=6, people=(8, 10), fps=fps,
                               difficulty=Difficulty(speed=speed, **STILL))
        truths = [video.render(t)[1] for t in range(6)]
        for p in _across_walkers(video):
            steps = [abs(b.joints[b.track_ids == p][0, PELVIS, 0] - a.joints[a.track_ids == p][0, PELVIS, 0])
                     for a, b in zip(truths, truths[1:]) if p in a.track_ids and p in b.track_ids]
            if steps:
                # Across the image goes the heading's sideways part, |sin yaw|, of the ground covered.
                ratios.append(np.mean(steps) / abs(np.sin(video.script.motion.yaw[p, 0])) / expected)
    assert len(ratios) >= 20
    # Each person's own factor is 0.8-1.2, mean 1; its depth, and so its step, changes by up to 3% on the way.
    assert 0.77 < min(ratios) and max(ratios) < 1.23
    assert np.mean(ratios) == pytest.approx(1.0, abs=0.07)


def test_sprinters_run_and_walkers_walk():
    def actions(speed: float) -> np.ndarray:
        script = sample_script(np.random.default_rng(3), (640, 360), 10, (20, 20),
                               difficulty=Difficulty(speed=speed))
        return script.motion.action

    default = sample_script(np.random.default_rng(3), (640, 360), 10, (20, 20)).motion.action
    movers = np.isin(default, (WALK, RUN))
    assert movers.sum() >= 8
    assert (actions(2.0)[movers] == WALK).all() and (actions(25.0)[movers] == RUN).all()
    np.testing.assert_array_equal(actions(2.0)[~movers], default[~movers])  # standing and waving stay


def test_decimation_shows_every_kth_frame_of_the_clip():
    whole = SyntheticVideo(seed=2, number=5, size=(320, 180), frames=24, people=(3, 4))
    half = SyntheticVideo(seed=2, number=5, size=(320, 180), frames=12, people=(3, 4),
                          difficulty=Difficulty(decimation=2))
    assert len(half) == 12 and half.script.frame_rate == 12.5
    for t in range(12):
        frame, truth = half.render(t)
        frame2, truth2 = whole.render(2 * t)
        np.testing.assert_array_equal(frame, frame2)
        np.testing.assert_array_equal(truth.track_ids, truth2.track_ids)
        np.testing.assert_array_equal(truth.joints, truth2.joints)
        np.testing.assert_array_equal(truth.labeled, truth2.labeled)
        assert truth.image.endswith(f"/{t:06d}.jpg")


# ---------------------------------------------------------------- camera

def _camera(size=(320, 180), frames=400, **axes):
    script = sample_script(np.random.default_rng(11), size, frames, (1, 1), difficulty=Difficulty(**axes))
    return script.camera, script.layout


@pytest.mark.parametrize("pan", [4.0, 12.0])
def test_pan_speed_is_the_mean_image_motion_of_the_view(pan):
    camera, layout = _camera(pan=pan, zoom_rate=0.0, shake=0.0)
    image_speed = np.abs(np.diff(camera.cx)) * camera.zoom[1:]
    assert np.mean(image_speed) == pytest.approx(pan * 180 / 720, rel=0.08)
    assert np.max(image_speed) < pan * 180 / 720 * np.pi / 2 * 1.01  # a sine: its peak is pi/2 of its mean
    w = 320
    assert (camera.cx - w / 2 / camera.zoom >= -1e-9).all()  # the view stays on the canvas
    assert (camera.cx + w / 2 / camera.zoom <= layout.width + 1e-9).all()


def test_the_background_moves_by_the_pan():
    """Measured in the pictures: phase correlation of consecutive frames follows the view's motion."""
    video = SyntheticVideo(seed=3, number=1, size=(320, 180), frames=12, people=(1, 1),
                           difficulty=Difficulty(pan=40.0, zoom_rate=0.0, shake=0.0))
    # Without sensor noise and blur, which a correlation would follow instead (the noise moves at random).
    video = SyntheticVideo.from_script(replace(video.script, effects=QUIET))
    cx = video.script.camera.cx
    assert np.abs(np.diff(cx)).max() > 10
    frames = [cv2.cvtColor(video.render(t)[0], cv2.COLOR_BGR2GRAY).astype(np.float32) for t in range(12)]
    for t in range(1, 12):
        (dx, dy), _ = cv2.phaseCorrelate(frames[t - 1], frames[t])
        assert dx == pytest.approx(-(cx[t] - cx[t - 1]), abs=0.5) and abs(dy) < 0.5


def test_zoom_rate_and_shake():
    camera, _ = _camera(pan=0.0, zoom_rate=0.01, shake=0.0)
    assert camera.zoom.min() >= 1.0 and camera.zoom.max() <= 1.5 + 1e-9 and camera.zoom.max() > 1.45
    assert np.mean(np.abs(np.diff(np.log(camera.zoom)))) == pytest.approx(np.log(1.01), rel=0.08)
    assert (np.diff(camera.cx) == 0).all()  # no pan, no shake
    camera, _ = _camera(pan=0.0, zoom_rate=0.0, shake=8.0)
    assert (camera.zoom == 1).all()
    for axis in (camera.cx, camera.cy):
        assert np.std(np.diff(axis)) == pytest.approx(8.0 * 180 / 720, rel=0.1)


# ---------------------------------------------------------------- crowding

def test_more_people_keeps_the_clips_people_and_adds_others():
    rng = lambda: np.random.default_rng([5, 9])  # noqa: E731
    base = sample_script(rng(), (640, 360), 20, (2, 5))
    crowd = sample_script(rng(), (640, 360), 20, (2, 5), difficulty=Difficulty(people=(14, 14)))
    n = len(base.bodies)
    assert len(crowd.bodies) == 14 and n < 14
    np.testing.assert_array_equal(crowd.bodies.shirt[:n], base.bodies.shirt)
    np.testing.assert_array_equal(crowd.motion.x[:n], base.motion.x)
    np.testing.assert_array_equal(crowd.camera.cx, base.camera.cx)
    annotated = [presence(SyntheticVideo.from_script(s)).sum(axis=0).mean() for s in (base, crowd)]
    assert annotated[1] > 2 * annotated[0]
    # A crowd lists the people with most joints first (PoseTrack's matching takes the first of equal matches).
    for _, truth in SyntheticVideo.from_script(crowd):
        counts = truth.keypoints("posetrack")[1].sum(axis=1)
        assert (np.diff(counts) <= 0).all()


def test_lookalikes_share_clothes_and_build_but_not_faces():
    script = sample_script(np.random.default_rng(1), (640, 360), 4, (8, 8), difficulty=Difficulty(lookalikes=1.0))
    b = script.bodies
    teams = {}
    for p in range(8):
        teams.setdefault(tuple(b.shirt[p]), []).append(p)
    assert sorted(len(t) for t in teams.values()) == [4, 4]  # two teams of four
    for members in teams.values():
        for name in ("shirt", "pants", "shoes", "long_sleeves", "shorts", "build", "stature", "shoulder_w", "child"):
            values = getattr(b, name)[members]
            assert (values == values[0]).all(), name
    assert len({tuple(v) for v in b.skin} | {tuple(v) for v in b.hair}) > 2  # faces stay each person's own
    half = sample_script(np.random.default_rng(1), (640, 360), 4, (8, 8), difficulty=Difficulty(lookalikes=0.5))
    shirts = [tuple(v) for v in half.bodies.shirt]
    assert sorted(shirts.count(s) for s in set(shirts))[-2:] == [2, 2]  # 4 of 8 people in two kits


# ---------------------------------------------------------------- occlusion and re-entry

def _alone(script, person: int, objects: tuple = ()) -> SyntheticVideo:
    """The clip with only `person` and `objects`: nobody and nothing else in the way."""
    return SyntheticVideo.from_script(replace(script, bodies=script.bodies.take([person]),
                                              motion=script.motion.take([person]), objects=objects, crowds=()))


@pytest.mark.slow  # renders each board's walker alone, with and without it
def test_an_occluded_walker_is_absent_for_exactly_n_frames():
    n, found = 7, 0
    for seed in range(4):
        kw = dict(seed=seed, number=3, size=(320, 180), frames=24, people=(4, 5))
        video = SyntheticVideo(**kw, difficulty=Difficulty(occlusion_frames=n, occluded_share=1.0, **STILL))
        s = video.script
        boards = s.objects[len(SyntheticVideo(**kw, difficulty=Difficulty(**STILL)).script.objects):]
        whole = presence(video)
        for board in boards:
            hidden = []
            for p in np.flatnonzero(np.isin(s.motion.action, (WALK, RUN))):
                lost = presence(_alone(s, p))[0] & ~presence(_alone(s, p, (board,)))[0]
                spans = runs(lost)
                if [b - a for a, b in spans] == [n]:
                    hidden.append((p, *spans[0]))
            # The board hides its walker for exactly n frames, then the walker is back.
            assert len(hidden) == 1
            p, a, b = hidden[0]
            alone = presence(_alone(s, p, (board,)))[0]
            assert a > 0 and b < len(video) and alone[a - 1] and alone[b]
            # In the whole clip others may hide it a little longer; the same track id is back after it.
            assert not whole[p, a:b].any() and whole[p, :a].any() and whole[p, b:].any()
            found += 1
    assert found >= 4


@pytest.mark.slow  # renders 5 clips of 32 frames and each leaver alone
def test_a_reentering_walker_is_out_of_view_for_exactly_n_frames_and_keeps_its_id():
    n, found = 9, 0
    for seed in range(5):
        video = SyntheticVideo(seed=seed, number=4, size=(480, 270), frames=32, people=(3, 4),
                               difficulty=Difficulty(reentry_frames=n, reentry_share=1.0))
        s = video.script
        # Re-entering people wait beyond the canvas, which the view never leaves.
        leavers = np.flatnonzero(((s.motion.x < 0) | (s.motion.x > s.layout.width)).any(axis=1) &
                                 np.isin(s.motion.action, (WALK, RUN)))
        everyone = presence(video)
        for p in leavers:
            _, image, seen = person_joints(s.bodies, s.motion, s.layout, s.camera, int(p), np.arange(32))
            here = present(image, seen, s.frame_size)
            # Out of view for exactly n frames once (the camera may take it out of view at other times too).
            gaps = [(a, b) for a, b in runs(~here) if a > 0 and b < 32 and b - a == n]
            assert len(gaps) == 1
            # The ground truth of the person alone (nothing else in the way) is absent exactly there.
            np.testing.assert_array_equal(presence(_alone(s, int(p)))[0], here)
            # In the whole clip the same track id is seen before the gap and again after it.
            (a, b), = gaps
            assert everyone[p, :a].any() and everyone[p, b:].any() and not everyone[p, a:b].any()
            found += 1
    assert found >= 3


# ---------------------------------------------------------------- detector: missed runs

def _frames(count: int, people: int) -> list[SyntheticFrame]:
    boxes = np.array([[20 + 60 * i, 20, 60 + 60 * i, 150] for i in range(people)], np.float32)
    k = len(SYNTH_JOINT_NAMES)
    return [SyntheticFrame(t, f"images/val/x/{t:06d}.jpg", t, True, np.arange(people),
                           np.zeros((people, k, 2), np.float32), np.ones((people, k), bool), boxes,
                           np.ones(people, np.float32), np.zeros((people, 4), np.float32), ()) for t in range(count)]


def test_a_missed_run_misses_one_person_k_frames_in_a_row():
    k, frames, people, rate = 6, 400, 4, 0.05
    detector = SimulatedDetector((640, 360), np.random.default_rng(0), miss=0.0, jitter=0.0, false_positives=0.0,
                                 run_length=k, run_rate=rate, run_rng=np.random.default_rng(1))
    detected = np.zeros((people, frames), bool)
    for truth in _frames(frames, people):
        boxes = detector(truth)
        for i, box in enumerate(truth.boxes):
            detected[i, truth.index] = (np.abs(boxes.boxes - box).sum(axis=1) < 1e-3).any()
    starts = 0
    for i in range(people):
        for a, b in runs(~detected[i]):
            # Back-to-back runs join; only the last may be cut by the clip's end.
            assert (b - a) % k == 0 or b == frames, (i, a, b)
            starts += (b - a + k - 1) // k
    # A run starts with probability `rate` on each frame a person is not already in one.
    expected = people * frames * rate / (1 + rate * (k - 1))
    assert abs(starts - expected) < 4 * np.sqrt(expected)


# ---------------------------------------------------------------- the hard preset and synthetic.json

@pytest.mark.slow  # renders 2 hard clips of 30 frames and runs the evaluator through the CLI (torch import)
def test_hard_preset_ground_truth_scores_100_against_itself(tmp_path):
    root = tmp_path / "hard"
    hard = DIFFICULTY_PRESETS["hard"]
    generate_dataset(root, videos=2, frames=30, size=(480, 270), splits=("val",), seed=1, progress=False,
                     difficulty=hard)
    gt = root / "annotations" / "posetrack17" / "val"
    assert main(["evaluate", "--gt", str(gt), "--pred", str(gt), "--json", str(tmp_path / "s.json"),
                 "--no-progress"]) == 0
    scores = json.loads((tmp_path / "s.json").read_text())
    assert scores["mAP"]["Total"] == pytest.approx(100.0) and scores["MOTA"]["Total"] == pytest.approx(100.0)
    assert scores["counts"]["num_switches"] == 0

    # synthetic.json holds the difficulty: the same clips and detections can be made from it.
    made = json.loads((root / "synthetic.json").read_text())
    difficulty = Difficulty.from_dict(made["difficulty"])
    assert difficulty == hard
    dets = read_coco_detections(root / "detections" / "val.json")
    video = SyntheticVideo(seed=made["seed"], number=SPLIT_BASE["val"] + 1, split="val", size=tuple(made["size"]),
                           frames=made["frames"], people=tuple(made["people"]), difficulty=difficulty)
    detector = SimulatedDetector.for_clip(made["seed"], video, difficulty)
    for t, (frame, truth) in enumerate(video):
        np.testing.assert_array_equal(detector(truth).boxes, dets(image_id=truth.image_id).boxes)
        if t == 5:
            # Compression loses the sensor noise, not the picture: compare smoothed images.
            jpeg = cv2.GaussianBlur(cv2.imread(str(root / video.image_path(t))), (5, 5), 0).astype(int)
            assert np.abs(jpeg - cv2.GaussianBlur(frame, (5, 5), 0)).mean() < 2
    # Harder than the default: more people, a moving view, boards and people leaving.
    assert len(video.script.bodies) >= 10 and np.ptp(video.script.camera.zoom) > 0.01


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize("setting, value, words", [
    ("speed", -1.0, "[0, 100]"), ("speed", float("nan"), "[0, 100]"), ("decimation", 0, "1..8"),
    ("decimation", 2.5, "1..8"), ("pan", -3.0, "[0, 100]"), ("zoom_rate", 0.5, "[0, 0.1]"),
    ("shake", -1.0, "[0, 50]"),
    ("people", (0, 3), "1 <= min <= max"), ("people", (5, 3), "1 <= min <= max"), ("lookalikes", 1.5, "[0, 1]"),
    ("occlusion_frames", -1, "0..1000"), ("occluded_share", 2.0, "[0, 1]"), ("reentry_frames", -5, "0..1000"),
    ("reentry_share", -0.1, "[0, 1]"), ("det_miss", 1.5, "[0, 1]"), ("det_jitter", -0.1, "[0, 1]"),
    ("det_fp", -1.0, "[0, 100]"), ("det_run_length", -1, "0..1000"), ("det_run_rate", 2.0, "[0, 1]"),
])
def test_bad_axis_values_name_the_setting_and_its_range(setting, value, words):
    with pytest.raises(HrtrackError) as err:
        Difficulty(**{setting: value})
    message = str(err.value)
    assert "\n" not in message and message.startswith(setting.replace("_", "-")) and words in message


def test_bad_clip_settings_name_the_setting_and_its_range():
    cases = [(dict(difficulty=Difficulty(people=(40, 40))), f"people must be at most {max_people((640, 360))}"),
             (dict(people=(2, 31)), "people must be at most 30 for 640x360"),
             (dict(frames=20, difficulty=Difficulty(occlusion_frames=19)), "occlusion-frames must be in 0..18"),
             (dict(frames=20, difficulty=Difficulty(reentry_frames=30)), "reentry-frames must be in 0..18")]
    for kw, words in cases:
        with pytest.raises(HrtrackError, match=words.replace("[", r"\[")):
            SyntheticVideo(**{"frames": 40, **kw})
    with pytest.raises(HrtrackError, match="preset must be one of default, hard, got 'extreme'"):
        Difficulty.preset("extreme")
    with pytest.raises(HrtrackError, match="unknown difficulty setting 'sped'"):
        Difficulty.from_dict({"sped": 3})


@pytest.mark.slow  # building the CLI parser imports every command, torch included (~3-5 s alone)
def test_synth_command_presets_and_flags(tmp_path, capsys):
    out = tmp_path / "s"
    args = ["synth", "--out", str(out), "--videos", "1", "--frames", "24", "--size", "320x180", "--splits", "val",
            "--no-progress"]
    assert main([*args, "--preset", "hard", "--pan", "0", "--det-run-length", "4"]) == 0
    made = json.loads((out / "synthetic.json").read_text())
    expected = replace(DIFFICULTY_PRESETS["hard"], pan=0.0, det_run_length=4)
    assert Difficulty.from_dict(made["difficulty"]) == expected and made["det_fp"] == expected.det_fp
    assert main([*args, "--preset", "hard", "--people", "2", "3"]) == 0  # the range given, not the preset's
    assert json.loads((out / "synthetic.json").read_text())["difficulty"]["people"] is None
    capsys.readouterr()
    for flags, words in ((["--preset", "extreme"], "preset must be one of default, hard"),
                         (["--speed", "-2"], "speed must be in [0, 100]"),
                         (["--people", "40", "40"], "people must be at most 30"),
                         (["--decimation", "0"], "decimation must be an integer in 1..8"),
                         (["--preset", "hard", "--frames", "12"], "reentry-frames must be in 0..10 for 12-frame")):
        assert main([*args, *flags]) == 2
        err = capsys.readouterr().err.strip()
        assert words in err and "\n" not in err
