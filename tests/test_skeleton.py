"""Joint layouts: flip tables and the PoseTrack 2017 <-> 17-slot table."""

from __future__ import annotations

import numpy as np

from hrtrack.skeleton import COCO, MPII, POSETRACK, PT17_TO_PT18


def test_coco_flip_index_swaps_every_left_right_pair():
    idx = COCO.flip_index
    for j, name in enumerate(COCO.joint_names):
        mirrored = name.replace("left", "@").replace("right", "left").replace("@", "right")
        assert COCO.joint_names[idx[j]] == mirrored


def test_posetrack_flip_keeps_head_bottom_and_top():
    idx = POSETRACK.flip_index
    assert idx[1] == 1 and idx[2] == 2 and idx[0] == 0
    assert [POSETRACK.joint_names[idx[j]] for j in (5, 16)] == ["right_shoulder", "left_ankle"]


def test_mpii_flip_pairs_are_named_pairs():
    for a, b in MPII.flip_pairs:
        assert MPII.joint_names[a].replace("right", "left") == MPII.joint_names[b]


def test_pt17_table():
    # PoseTrack 2017 ids: 0 r_ankle ... 12 head_bottom, 13 nose, 14 head_top.
    assert PT17_TO_PT18.tolist() == [16, 14, 12, 11, 13, 15, 10, 8, 6, 5, 7, 9, 1, 0, 2]
    assert len(np.unique(PT17_TO_PT18)) == 15 and not {3, 4} & set(PT17_TO_PT18.tolist())
