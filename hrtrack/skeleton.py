"""Joint layouts: names, flip pairs, OKS sigmas and the one table between file formats.

DESIGN.md §3. The estimator's native layout is COCO's 17 joints; PoseTrack models
use the PoseTrack 2018 layout (slot 1 = head_bottom, slot 2 = head_top, ears never
labelled). PoseTrack 2017 files have 15 joints with their own ids, converted at the
file boundary with `PT17_TO_PT18` only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Per-joint OKS constants of the COCO keypoint benchmark (already divided by 10).
COCO_SIGMAS = np.array([.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62,
                        1.07, 1.07, .87, .87, .89, .89], np.float32) / 10.0


@dataclass(frozen=True)
class Layout:
    """A joint layout: ordered names, left-right pairs and OKS sigmas."""

    name: str
    joint_names: tuple[str, ...]
    flip_pairs: tuple[tuple[int, int], ...]
    sigmas: np.ndarray
    # Bones drawn by renderers, as (joint, joint) pairs.
    skeleton: tuple[tuple[int, int], ...]

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    @property
    def flip_index(self) -> np.ndarray:
        """Permutation p such that joint j of a mirrored image is joint p[j] of the original."""
        idx = np.arange(self.num_joints)
        for a, b in self.flip_pairs:
            idx[a], idx[b] = b, a
        return idx

    def index(self, name: str) -> int:
        return self.joint_names.index(name)


_LIMBS_17 = ((5, 7), (7, 9), (6, 8), (8, 10), (5, 6), (5, 11), (6, 12), (11, 12),
             (11, 13), (13, 15), (12, 14), (14, 16))

COCO = Layout(
    name="coco",
    joint_names=("nose", "left_eye", "right_eye", "left_ear", "right_ear",
                 "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
                 "left_wrist", "right_wrist", "left_hip", "right_hip",
                 "left_knee", "right_knee", "left_ankle", "right_ankle"),
    flip_pairs=((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16)),
    sigmas=COCO_SIGMAS,
    skeleton=_LIMBS_17 + ((0, 1), (0, 2), (1, 3), (2, 4)),
)

# head_bottom / head_top keep the eyes' sigma (0.025): PoseTrack models fine-tuned
# from COCO reuse those slots, and MMPose's PoseTrack18 metadata and Simple
# Baselines' tracker use the COCO constants unchanged, so OKS stays comparable.
POSETRACK = Layout(
    name="posetrack",
    joint_names=("nose", "head_bottom", "head_top", "left_ear", "right_ear",
                 "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
                 "left_wrist", "right_wrist", "left_hip", "right_hip",
                 "left_knee", "right_knee", "left_ankle", "right_ankle"),
    # head_bottom/head_top are not a left-right pair: they are not swapped.
    flip_pairs=((3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16)),
    sigmas=COCO_SIGMAS,
    skeleton=_LIMBS_17 + ((0, 1), (1, 2), (1, 5), (1, 6)),
)

MPII = Layout(
    name="mpii",
    joint_names=("right_ankle", "right_knee", "right_hip", "left_hip", "left_knee",
                 "left_ankle", "pelvis", "thorax", "upper_neck", "head_top",
                 "right_wrist", "right_elbow", "right_shoulder", "left_shoulder",
                 "left_elbow", "left_wrist"),
    flip_pairs=((0, 5), (1, 4), (2, 3), (10, 15), (11, 14), (12, 13)),
    sigmas=np.full(16, 0.089, np.float32),
    skeleton=((0, 1), (1, 2), (2, 6), (6, 3), (3, 4), (4, 5), (6, 7), (7, 8), (8, 9),
              (10, 11), (11, 12), (12, 7), (7, 13), (13, 14), (14, 15)),
)

LAYOUTS = {layout.name: layout for layout in (COCO, POSETRACK, MPII)}

# PoseTrack 2017 file joint ids, in id order.
PT17_JOINT_NAMES = ("right_ankle", "right_knee", "right_hip", "left_hip", "left_knee",
                    "left_ankle", "right_wrist", "right_elbow", "right_shoulder",
                    "left_shoulder", "left_elbow", "left_wrist", "head_bottom", "nose",
                    "head_top")

# PT17_TO_PT18[j] = slot in the PoseTrack (2018) 17-joint layout of PoseTrack 2017 joint id j.
PT17_TO_PT18 = np.array([POSETRACK.index(n) for n in PT17_JOINT_NAMES], np.int64)


def get_layout(name: str) -> Layout:
    """Look a layout up by name ('coco', 'posetrack', 'mpii')."""
    from .errors import HrtrackError

    try:
        return LAYOUTS[name]
    except KeyError:
        raise HrtrackError(f"unknown joint layout {name!r}; known: {', '.join(LAYOUTS)}") from None


def joint_map(src: Layout, dst: Layout) -> np.ndarray:
    """(dst.num_joints,) index of each `dst` joint in `src` by name, -1 where `src` lacks it.

    E.g. a COCO model written as PoseTrack: nose and limbs map, head_bottom and
    head_top (which COCO does not have) are -1 and left out.
    """
    return np.array([src.joint_names.index(n) if n in src.joint_names else -1 for n in dst.joint_names], np.int64)
