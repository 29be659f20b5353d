"""The demo's pictures: a contact sheet of tracked frames and a plot of track lifetimes against the truth.

Both read the results files the demo wrote, so they show exactly what was scored.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..evaluation.duplicates import assign_to_truth
from ..fileio import resolve_under, write_bytes_atomic
from ..formats.posetrack import PoseTrackFrame, read_sequence, sequence_files
from ..geometry import joint_boxes
from ..pipeline.render import draw_poses, track_colors
from ..skeleton import POSETRACK
from ..structures import Poses

_FONT = cv2.FONT_HERSHEY_SIMPLEX


def _write_png(path: Path, image: np.ndarray) -> Path:
    ok, data = cv2.imencode(".png", image)
    assert ok, "PNG encoding of a uint8 BGR image cannot fail"
    write_bytes_atomic(path, data.tobytes())
    return path


def frame_poses(frame: PoseTrackFrame) -> Poses:
    """A results frame as `Poses` in the PoseTrack layout: emitted joints score 1, boxes around them."""
    scores = frame.visible.astype(np.float32)
    boxes, _ = joint_boxes(frame.keypoints, scores, 0.5, 0.1)
    return Poses(frame.keypoints, scores, np.nan_to_num(frame.scores, nan=1.0), boxes, frame.track_ids)


def write_contact_sheet(data: Path, predictions: Path, out: Path, *, columns: int = 3, per_clip: int = 3,
                        width: int = 400) -> Path:
    """A PNG grid of tracked frames (skeletons, boxes, ids): `per_clip` evenly spaced frames of each clip.

    data: the `hrtrack synth` root holding the frames; predictions: the results folder
    (which holds only the emitted joints).
    """
    tiles = []
    for name, path in sorted(sequence_files(predictions).items()):
        seq = read_sequence(path)
        for t in np.linspace(0, len(seq.frames) - 1, per_clip + 2)[1:-1].round().astype(int):
            frame = seq.frames[t]
            image = cv2.imread(str(resolve_under(data, frame.image, name)), cv2.IMREAD_COLOR)
            drawn = draw_poses(image, frame_poses(frame), POSETRACK, joint_threshold=0.5)
            scale = width / drawn.shape[1]
            tile = cv2.resize(drawn, (width, int(round(drawn.shape[0] * scale))), interpolation=cv2.INTER_AREA)
            cv2.putText(tile, f"{name} frame {t}", (6, 18), _FONT, 0.5, (0, 0, 0), 3, cv2.LINE_AA)
            cv2.putText(tile, f"{name} frame {t}", (6, 18), _FONT, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
            tiles.append(tile)
    blank = np.zeros_like(tiles[0])
    tiles += [blank] * (-len(tiles) % columns)
    rows = [np.concatenate(tiles[i:i + columns], axis=1) for i in range(0, len(tiles), columns)]
    return _write_png(out, np.concatenate(rows, axis=0))


def _clip_truth(settings, name: str) -> list[PoseTrackFrame]:
    """Every frame's truth of the held-out clip `name` ("010000_synth_val"), rendered again from its seed."""
    from ..synthetic import SyntheticVideo

    video = SyntheticVideo(seed=settings.seed, number=int(name.split("_")[0]), split="val", size=settings.size,
                           frames=settings.frames, people=settings.people)
    return [truth.posetrack() for _, truth in video]


def track_lifetimes(truth: list[PoseTrackFrame], results: list[PoseTrackFrame]) -> tuple[dict, dict, dict]:
    """Frames of each true track, of each predicted track, and the true track each predicted one follows most.

    Returns ({true id: frames}, {predicted id: frames}, {predicted id: true id or -1}).
    """
    true_frames: dict[int, list[int]] = {}
    pred_frames: dict[int, list[int]] = {}
    votes: dict[int, dict[int, int]] = {}
    for t, (gt, pred) in enumerate(zip(truth, results)):
        for i in gt.track_ids.tolist():
            true_frames.setdefault(i, []).append(t)
        owner = assign_to_truth(gt, pred)
        for pid, g in zip(pred.track_ids.tolist(), owner.tolist()):
            pred_frames.setdefault(pid, []).append(t)
            if g >= 0:
                tally = votes.setdefault(pid, {})
                tally[int(gt.track_ids[g])] = tally.get(int(gt.track_ids[g]), 0) + 1
    follows = {pid: max(votes[pid], key=votes[pid].get) if pid in votes else -1 for pid in pred_frames}
    return true_frames, pred_frames, follows


def write_lifetimes(settings, predictions: Path, out: Path, *, frame_px: int = 14, row_px: int = 12) -> Path:
    """A PNG with, per held-out clip, each true track's lifetime (grey) and under it the predicted tracks that
    follow it (their colours); predicted tracks that follow nobody come last, outlined in red.

    The truth is rendered again from the clips' seeds (every frame, not only the labelled ones).
    """
    files = sorted(sequence_files(predictions).items())
    panels = []
    label_w = 120
    for name, path in files:
        true_frames, pred_frames, follows = track_lifetimes(_clip_truth(settings, name), read_sequence(path).frames)
        rows: list[tuple[str, list[int], tuple[int, int, int], bool]] = []
        for tid in sorted(true_frames, key=lambda i: true_frames[i][0]):
            rows.append((f"true {tid}", true_frames[tid], (150, 150, 150), False))
            for pid in sorted(p for p, f in follows.items() if f == tid):
                colour = tuple(int(c) for c in track_colors(np.array([pid]))[0])
                rows.append((f"  track {pid}", pred_frames[pid], colour, False))
        for pid in sorted(p for p, f in follows.items() if f < 0):
            colour = tuple(int(c) for c in track_colors(np.array([pid]))[0])
            rows.append((f"  track {pid} (nobody)", pred_frames[pid], colour, True))
        panel = np.full((22 + row_px * len(rows) + 6, label_w + frame_px * settings.frames + 8, 3), 255, np.uint8)
        cv2.putText(panel, f"{name}: frames 0-{settings.frames - 1}", (4, 15), _FONT, 0.45, (0, 0, 0), 1,
                    cv2.LINE_AA)
        for r, (label, frames, colour, stray) in enumerate(rows):
            y = 22 + r * row_px
            cv2.putText(panel, label, (4, y + row_px - 3), _FONT, 0.35, (0, 0, 0), 1, cv2.LINE_AA)
            for t in frames:
                x = label_w + t * frame_px
                cv2.rectangle(panel, (x, y + 1), (x + frame_px - 2, y + row_px - 2), colour, -1)
                if stray:
                    cv2.rectangle(panel, (x, y + 1), (x + frame_px - 2, y + row_px - 2), (0, 0, 220), 1)
        panels.append(panel)
    width = max(p.shape[1] for p in panels)
    panels = [np.pad(p, ((0, 4), (0, width - p.shape[1]), (0, 0)), constant_values=255) for p in panels]
    return _write_png(out, np.concatenate(panels, axis=0))


def write_line_panels(out: Path, title: str, levels: list[str], series: dict[str, dict[str, list[float]]],
                      metrics: list[str], *, panel: tuple[int, int] = (420, 260)) -> Path:
    """A PNG of one panel per metric: each series' value (y) against the level (x), one line per series.

    series maps a series name (e.g. a benchmark variant) to {metric: one value per level};
    NaN values are left out of their line. Panels sit in rows of three under `title`,
    with a legend of the series' colours at the bottom.
    """
    w, h = panel
    left, right, top, bottom = 52, 14, 30, 34
    colours = track_colors(np.arange(len(series)))
    panels = []
    for metric in metrics:
        img = np.full((h, w, 3), 255, np.uint8)
        values = np.array([series[s][metric] for s in series], np.float64)
        finite = values[np.isfinite(values)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        pad = max((hi - lo) * 0.08, 1e-6 if hi != lo else max(abs(hi) * 0.05, 1.0))
        lo, hi = lo - pad, hi + pad
        n = len(levels)
        xs = left + (np.arange(n) + 0.5) * (w - left - right) / max(n, 1)

        def y(v: np.ndarray) -> np.ndarray:
            return top + (hi - v) / (hi - lo) * (h - top - bottom)

        cv2.rectangle(img, (left, top), (w - right, h - bottom), (0, 0, 0), 1)
        for tick in np.linspace(lo + pad, hi - pad, 4):
            ty = int(round(float(y(np.array(tick)))))
            cv2.line(img, (left, ty), (w - right, ty), (225, 225, 225), 1)
            cv2.putText(img, f"{tick:.3g}", (2, ty + 4), _FONT, 0.35, (0, 0, 0), 1, cv2.LINE_AA)
        for x, level in zip(xs, levels):
            cv2.putText(img, level, (int(x) - 4 * len(level), h - bottom + 16), _FONT, 0.35, (0, 0, 0), 1,
                        cv2.LINE_AA)
        for colour, row in zip(colours, values):
            ok = np.isfinite(row)
            pts = np.stack([xs[ok], y(row[ok])], 1).round().astype(np.int32)
            if len(pts) > 1:
                cv2.polylines(img, [pts], False, tuple(int(c) for c in colour), 2, cv2.LINE_AA)
            for p in pts:
                cv2.circle(img, (int(p[0]), int(p[1])), 3, tuple(int(c) for c in colour), -1, cv2.LINE_AA)
        cv2.putText(img, metric, (left, 20), _FONT, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
        panels.append(img)
    columns = min(3, len(panels))
    panels += [np.full_like(panels[0], 255)] * (-len(panels) % columns)
    grid = np.concatenate([np.concatenate(panels[i:i + columns], axis=1) for i in range(0, len(panels), columns)])
    header = np.full((34, grid.shape[1], 3), 255, np.uint8)
    cv2.putText(header, title, (8, 24), _FONT, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    legend = np.full((22 * ((len(series) + columns - 1) // columns) + 8, grid.shape[1], 3), 255, np.uint8)
    cell = grid.shape[1] // columns
    for i, (name, colour) in enumerate(zip(series, colours)):
        x, y0 = 8 + (i % columns) * cell, 18 + 22 * (i // columns)
        cv2.line(legend, (x, y0 - 4), (x + 24, y0 - 4), tuple(int(c) for c in colour), 3, cv2.LINE_AA)
        cv2.putText(legend, name[: cell // 7], (x + 30, y0), _FONT, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    return _write_png(out, np.concatenate([header, grid, legend]))
