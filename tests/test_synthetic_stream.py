"""The streamed synthetic training source: determinism for (seed, step), geometry of crops and
targets against the generator's own truth, hidden-joint supervision, and a resumed streamed
training run equal to an uninterrupted one."""

from __future__ import annotations

import os
from itertools import pairwise

import cv2
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from hrtrack.datasets.synthetic_stream import STREAM_KEY, SyntheticStream
from hrtrack.datasets.transforms import normalise_crop
from hrtrack.geometry import apply_affine
from hrtrack.models import HeatmapCodec
from hrtrack.skeleton import POSETRACK
from hrtrack.structures import Poses
from hrtrack.synthetic import SyntheticVideo, sample_script
from hrtrack.tracking import propagate_boxes
from hrtrack.training.engine import cosine_lr_factor, stream_training_threads

CODEC = HeatmapCodec((96, 128), (24, 32), 2.0, dark=True, udp=True)
SMALL = dict(batch_size=8, crops_per_frame=4, frame_size=(320, 180), clip_frames=12, clip_reuse=2)


def stream(**kw) -> SyntheticStream:
    return SyntheticStream(CODEC, POSETRACK, seed=3, **{**SMALL, **kw})


def same_batch(a, b) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a[:3], b[:3])) and all(torch.equal(a[3][k], b[3][k]) for k in a[3])


def test_a_step_is_the_same_batch_whatever_came_before_and_whichever_worker_makes_it():
    fresh = stream()[5]
    warm = stream()
    for step in range(5):
        warm[step]
    assert same_batch(warm[5], fresh)
    loaded = list(DataLoader(stream(), batch_size=None, sampler=range(4, 7), num_workers=2))
    assert same_batch(loaded[1], fresh)
    assert not torch.equal(stream()[6][0], fresh[0])
    assert not torch.equal(SyntheticStream(CODEC, POSETRACK, seed=4, **SMALL)[5][0], fresh[0])


def test_each_clip_serves_clip_reuse_steps_never_two_in_a_row_and_ranks_draw_their_own():
    s = stream()  # 2 clips a batch: 4 lanes, each keeping a clip for 2 of its draws; lanes 2 and 3 start mid-way
    clips = [sorted(set(s[step][3]["clip"].tolist())) for step in range(8)]
    assert clips == [[0, 1], [2, 3], [0, 1], [6, 7], [4, 5], [6, 7], [4, 5], [10, 11]]
    assert all(not set(a) & set(b) for a, b in pairwise(clips))
    other_rank = SyntheticStream(CODEC, POSETRACK, seed=3, rank=1, world_size=2, **SMALL)
    assert not set(other_rank[0][3]["clip"].tolist()) & set(SyntheticStream(
        CODEC, POSETRACK, seed=3, rank=0, world_size=2, **SMALL)[0][3]["clip"].tolist())


def test_streamed_clips_are_not_the_clips_hrtrack_synth_writes():
    s = stream()
    ours = s.clip(0).render(0)[0]
    theirs = SyntheticVideo(seed=3, number=0, split="train", size=SMALL["frame_size"], frames=12).render(0)[0]
    assert ours.shape == theirs.shape and not np.array_equal(ours, theirs)


def test_joint_boxes_are_the_boxes_flow_propagation_makes():
    # Joints spanning x 100..140, y 50..150, one unlabelled joint far outside: propagation adds 15% of the
    # width (6 px) and of the height (15 px) on each side.
    joints = np.zeros((17, 2))
    joints[:4] = [[100, 50], [140, 150], [120, 80], [110, 120]]
    joints[4] = [400, 300]
    labelled = np.zeros(17, bool)
    labelled[:4] = True
    silhouette = np.array([90.0, 40.0, 150.0, 160.0])
    seed = next(s for s in range(100) if np.random.default_rng(s).random() < 0.5)  # a draw that takes the joint box
    box = stream(box_jitter=0.0).sample_box(joints, labelled, silhouette, np.random.default_rng(seed))
    np.testing.assert_allclose(box, [94, 35, 146, 165], atol=1e-4)
    moved = Poses(joints[None].astype(np.float32), labelled[None].astype(np.float32), np.ones(1, np.float32),
                  np.zeros((1, 4), np.float32))
    np.testing.assert_allclose(box, propagate_boxes(moved, min_joint_score=0.5).boxes[0], atol=1e-4)


@pytest.mark.parametrize("supervise_hidden", [True, False])
def test_crops_and_targets_match_the_generators_truth(supervise_hidden):
    s = stream(supervise_hidden=supervise_hidden, jpeg_quality=0)
    images, targets, weights, meta = s[1]
    coords, _ = CODEC.decode(targets)
    for i in range(len(images)):
        # The truth, rendered again from the clip's seed, independently of the stream's cache.
        script = sample_script(np.random.default_rng([3, STREAM_KEY, int(meta["clip"][i])]), (320, 180), 12, (2, 5))
        frame, truth = SyntheticVideo.from_script(script).render(int(meta["frame"][i]))
        joints, labelled = truth.keypoints("posetrack")
        p = int(meta["person"][i])
        center, scale = meta["center"][i].numpy()[None], meta["scale"][i].numpy()[None]
        rotation, flipped = float(meta["rotation"][i]), bool(meta["flipped"][i])
        mat = CODEC.crop_matrices(center, scale, rotation)
        crop = cv2.warpAffine(frame, mat[0], CODEC.input_size, flags=cv2.INTER_LINEAR)
        if flipped:
            crop = crop[:, ::-1]
        np.testing.assert_array_equal(images[i].numpy(), normalise_crop(np.ascontiguousarray(crop)))
        # Each labelled joint's target peak maps back onto the joint (mirrored and swapped if flipped).
        in_px = coords[i].numpy().astype(np.float64) * CODEC.stride
        order = np.asarray(POSETRACK.flip_index) if flipped else np.arange(POSETRACK.num_joints)
        if flipped:
            in_px[:, 0] = CODEC.input_size[0] - 1 - in_px[:, 0]
        back = apply_affine(in_px[order][None], CODEC.crop_matrices(center, scale, rotation, inverse=True))[0]
        vis = labelled[p]
        in_map = targets[i, order].amax(dim=(1, 2)).numpy() > 0.5
        assert (in_map <= vis).all()
        # Away from the border, where DARK's smoothing sees the whole peak.
        hm = coords[i, order].numpy()
        inner = in_map & (hm >= 4).all(1) & (hm <= np.array(CODEC.heatmap_size) - 5).all(1)
        err = np.abs(back[inner] - joints[p][inner])
        assert inner.any() and err.max() < 0.05 * scale[0, 1] * 200 / CODEC.heatmap_size[1], err.max()
        w = weights[i, :, 0].numpy()
        if supervise_hidden:
            assert (w == 1).all() and (targets[i].amax(dim=(1, 2)).numpy()[~vis[order]] == 0).all()
        else:
            assert (w[~vis[order]] == 0).all()


def test_cosine_schedule_warms_up_then_decays_to_zero():
    assert cosine_lr_factor(0, 100, 10) == pytest.approx(0.1)
    assert cosine_lr_factor(9, 100, 10) == pytest.approx(1.0)
    assert cosine_lr_factor(10, 100, 10) == pytest.approx(1.0)
    assert cosine_lr_factor(55, 100, 10) == pytest.approx(0.5)
    assert cosine_lr_factor(100, 100, 10) == pytest.approx(0.0)


STREAM_RUN = ["--set", "model.width=8", "--set", "model.blocks_per_branch=1", "--set", "train.batch_size=4",
              "--set", "data.stream.crops_per_frame=2", "--set", "data.stream.frame_size=[320,180]",
              "--set", "data.stream.clip_frames=12", "--set", "train.workers=0", "--set", "train.schedule=multistep",
              "--set", "train.milestones=[1]", "--set", "train.lr=0.001"]


def _stream_train(out, *extra) -> int:
    from hrtrack.cli import main
    from hrtrack.config import CONFIG_ROOT

    return main(["train", "--config", str(CONFIG_ROOT / "synthetic" / "tiny.yaml"), "--out", str(out),
                 "--device", "cpu", "--no-progress", *STREAM_RUN, *extra])


@pytest.mark.slow
def test_streamed_training_resumes_exactly(tmp_path, capsys):
    full = ["--set", "train.steps=4", "--set", "train.epochs=2"]
    assert _stream_train(tmp_path / "full", *full) == 0
    assert "trained 4 steps of 4 freshly rendered people" in capsys.readouterr().out
    assert _stream_train(tmp_path / "split", "--set", "train.steps=2", "--set", "train.epochs=1") == 0
    assert _stream_train(tmp_path / "split", *full, "--resume") == 0
    a = torch.load(tmp_path / "full" / "final_state.pth", weights_only=True)
    b = torch.load(tmp_path / "split" / "final_state.pth", weights_only=True)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    rows = (tmp_path / "split" / "metrics.csv").read_text().splitlines()
    assert [r.split(",")[1] for r in rows[1:]] == ["0.001", "0.0001"]


def test_stream_length_must_split_into_its_epochs(tmp_path, capsys):
    assert _stream_train(tmp_path / "bad", "--set", "train.steps=5", "--set", "train.epochs=2") == 2
    assert "steps must be a positive multiple of epochs" in capsys.readouterr().err


def test_stream_training_leaves_a_core_to_each_rendering_worker():
    cores = len(os.sched_getaffinity(0))
    assert stream_training_threads(1, 0) == 1  # never more threads than asked for
    assert stream_training_threads(64, 10_000) == 1  # always at least one
    assert stream_training_threads(10_000, 1) == max(1, cores - 1)


@pytest.mark.slow
def test_streamed_training_with_a_worker_gives_the_threads_back(tmp_path):
    threads = torch.get_num_threads()
    assert _stream_train(tmp_path / "w", "--set", "train.steps=2", "--set", "train.workers=1") == 0
    assert torch.get_num_threads() == threads
