"""Drawing the synthetic people: tapered limbs, torso, head with a face, in depth order.

A figure is painted part by part, far parts first, so the far arm passes behind the
torso and the near arm in front of it. Far-side parts are shaded darker and the
face (eyes, nose, mouth), the neckline and the feet show which way the person faces:
the cues a pose network uses to tell left from right on real people. The same
shapes are also written into a label image (one value per figure) from which the
ground truth reads what each joint is covered by.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .body import POINT_NAMES, Bodies, project, self_visible

_P = {name: i for i, name in enumerate(POINT_NAMES)}
_SHIFT = 4  # OpenCV fractional bits: shapes are placed to 1/16 pixel.
_ONE = 1 << _SHIFT

# Capsules: (from point, to point, radius at from, radius at to, colour slot), radii in body heights.
_SHIRT, _PANTS, _SKIN, _SHOES, _SLEEVE, _SHIN = range(6)
_CAPSULES = (
    ("left_shoulder", "left_elbow", 0.033, 0.026, _SHIRT),
    ("left_elbow", "left_wrist", 0.026, 0.019, _SLEEVE),
    ("left_wrist", "left_hand", 0.02, 0.022, _SKIN),
    ("right_shoulder", "right_elbow", 0.033, 0.026, _SHIRT),
    ("right_elbow", "right_wrist", 0.026, 0.019, _SLEEVE),
    ("right_wrist", "right_hand", 0.02, 0.022, _SKIN),
    ("left_hip", "left_knee", 0.05, 0.036, _PANTS),
    ("left_knee", "left_ankle", 0.036, 0.025, _SHIN),
    ("left_ankle", "left_toe", 0.024, 0.02, _SHOES),
    ("right_hip", "right_knee", 0.05, 0.036, _PANTS),
    ("right_knee", "right_ankle", 0.036, 0.025, _SHIN),
    ("right_ankle", "right_toe", 0.024, 0.02, _SHOES),
    ("head_bottom", "thorax", 0.028, 0.03, _SKIN),
)
_CAP_A = np.array([_P[c[0]] for c in _CAPSULES])
_CAP_B = np.array([_P[c[1]] for c in _CAPSULES])
_CAP_R = np.array([[c[2], c[3]] for c in _CAPSULES])
_CAP_COLOUR = np.array([c[4] for c in _CAPSULES])
_NECK = len(_CAPSULES) - 1
_CIRCLE = np.stack([np.cos(np.linspace(0, 2 * np.pi, 24, endpoint=False)),
                    np.sin(np.linspace(0, 2 * np.pi, 24, endpoint=False))], axis=1)


def _fx(points: np.ndarray) -> np.ndarray:
    """Pixels -> OpenCV fixed-point int32."""
    return np.round(np.asarray(points) * _ONE).astype(np.int32)


def _capsule_quads(a: np.ndarray, b: np.ndarray, ra: np.ndarray, rb: np.ndarray) -> np.ndarray:
    """Quads (C,4,2) joining circles (a, ra) and (b, rb): the body of tapered capsules."""
    d = b - a
    length = np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-6)
    normal = np.stack([-d[:, 1], d[:, 0]], axis=1) / length
    return np.stack([a + normal * ra[:, None], b + normal * rb[:, None],
                     b - normal * rb[:, None], a - normal * ra[:, None]], axis=1)


def _palette(bodies: Bodies, i: int) -> np.ndarray:
    skin = bodies.skin[i]
    return np.stack([bodies.shirt[i], bodies.pants[i], skin, bodies.shoes[i],
                     bodies.shirt[i] if bodies.long_sleeves[i] else skin,
                     skin if bodies.shorts[i] else bodies.pants[i]])


def _shade(colour: np.ndarray, depth: float) -> tuple[float, ...]:
    """Darken parts on the far side of the body (depth > 0, body heights)."""
    k = float(np.clip(1.0 - 2.2 * depth, 0.68, 1.0))
    return tuple(float(v) for v in np.clip(colour * k, 0, 255))


def _shade_all(colours: np.ndarray, depths: np.ndarray) -> list[tuple[float, ...]]:
    """`_shade` of float32 colours (C,3) at depths (C,), in one pass (the same float32 arithmetic)."""
    k = np.clip(1.0 - 2.2 * depths, 0.68, 1.0).astype(np.float32)
    return [tuple(float(v) for v in row) for row in np.clip(colours * k[:, None], 0, 255)]


def _torso_points(pts: np.ndarray, bodies: Bodies, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """3-D points (in the body frame) outlining the shirt, the waistband, the neckline + mouth.

    The shirt is the hull of four slabs: the base of the neck, the shoulders, the
    waist and the hips, each as wide as the body there and `depth` thick.
    """
    depth = 0.055 * bodies.build[i]
    w_sh = bodies.shoulder_w[i] + 0.022
    w_hip = (bodies.hip_w[i] + 0.042) * bodies.build[i]
    thorax, pelvis = pts[_P["thorax"]], pts[_P["pelvis"]]
    # Levels: (origin, vertical offset, half width).
    levels = ((thorax, -0.02, 0.5 * w_sh), (thorax, 0.025, w_sh), ((thorax + pelvis) / 2, 0.0, 0.85 * w_hip),
              (pelvis, -0.03, w_hip))
    sx = np.array([1, 1, -1, -1])
    sz = np.array([1, -1, 1, -1])
    shirt = np.concatenate([origin + np.stack([sx * w, np.full(4, dy), sz * depth], axis=1)
                            for origin, dy, w in levels])
    band = np.concatenate([pelvis + np.stack([sx * w_hip, np.full(4, dy), sz * depth], axis=1)
                           for dy in (-0.045, 0.05)])
    neckline = thorax + np.array([[0.032, -0.002, depth + 0.002], [-0.032, -0.002, depth + 0.002],
                                  [0.0, 0.06, depth + 0.002]])
    r = bodies.head[i] / 2
    mouth = pts[_P["head_center"]] + r * np.array([[0.2, 0.56, 0.8], [-0.2, 0.56, 0.8]])
    return shirt, band, np.concatenate([neckline, mouth])


def paint_figure(canvas: np.ndarray, labels: np.ndarray, label: int, points: np.ndarray,
                 yaw: float, origin: np.ndarray, height_px: float, bodies: Bodies, i: int) -> None:
    """Paint person `i` into `canvas` (H,W,3 uint8 BGR) and its silhouette into `labels`, in place.

    points (K,3): body-frame points from `body_points`; origin (2,): image position of
    the body origin (standing pelvis); height_px: pixels per body height. `labels`
    (H,W) uint8 receives `label` over the whole silhouette.
    """
    shirt3, band3, neck3 = _torso_points(points, bodies, i)
    extra = np.concatenate([shirt3, band3, neck3])
    off, depth = project(np.concatenate([points, extra])[None], np.array([yaw]))
    xy = origin + height_px * off[0]
    depth = depth[0]
    k = len(points)
    ns, nb = len(shirt3), len(band3)
    shirt_xy, band_xy = xy[k:k + ns], xy[k + ns:k + ns + nb]
    neck_xy, mouth_xy = xy[k + ns + nb:k + ns + nb + 3], xy[k + ns + nb + 3:]
    edge = max(0.7, 0.006 * height_px)

    r = _CAP_R * height_px * bodies.build[i]
    if bodies.child[i] > 0.3:
        r = r * (1 + 0.15 * bodies.child[i])
    a, b = xy[_CAP_A], xy[_CAP_B]
    cap_depth = 0.5 * (depth[_CAP_A] + depth[_CAP_B])
    inner = _fx(_capsule_quads(a, b, r[:, 0], r[:, 1]))
    outer = _fx(_capsule_quads(a, b, r[:, 0] + edge, r[:, 1] + edge))
    # Plain Python numbers for OpenCV's many small calls below (the same values, converted once).
    fa, fb = [tuple(p) for p in _fx(a).tolist()], [tuple(p) for p in _fx(b).tolist()]
    ra, rb = _fx(r[:, 0]).tolist(), _fx(r[:, 1]).tolist()
    ra_out, rb_out = _fx(r[:, 0] + edge).tolist(), _fx(r[:, 1] + edge).tolist()
    shirt_hull = _fx(cv2.convexHull(shirt_xy.astype(np.float32))[:, 0])
    band_hull = _fx(cv2.convexHull(band_xy.astype(np.float32))[:, 0])

    seen = self_visible(depth[None, :k], np.array([yaw]), bodies.take([i]))[0]
    head = _Head.build(xy, seen, 0.5 * bodies.head[i] * height_px, edge)

    for c in range(len(_CAPSULES)):
        cv2.fillConvexPoly(labels, outer[c], label, cv2.LINE_8, _SHIFT)
        cv2.circle(labels, fa[c], ra_out[c], label, -1, cv2.LINE_8, _SHIFT)
        cv2.circle(labels, fb[c], rb_out[c], label, -1, cv2.LINE_8, _SHIFT)
    cv2.fillConvexPoly(labels, shirt_hull, label, cv2.LINE_8, _SHIFT)
    cv2.fillConvexPoly(labels, band_hull, label, cv2.LINE_8, _SHIFT)
    cv2.ellipse(labels, head.centre, head.axes_out, 0, 0, 360, label, -1, cv2.LINE_8, _SHIFT)
    # The nose sticks out of the head outline in profile; it and the ears are part of the silhouette.
    if seen[_P["nose"]]:
        cv2.circle(labels, head.nose, head.nose_r, label, -1, cv2.LINE_8, _SHIFT)
    for ear in head.ears:
        cv2.ellipse(labels, ear, head.ear_axes, 0, 0, 360, label, -1, cv2.LINE_8, _SHIFT)

    palette = _palette(bodies, i)
    torso_depth = float(depth[_P["thorax"]] + depth[_P["pelvis"]]) / 2
    # Parts by depth, far first; the torso sits between the two sides, the head on top.
    parts = [(float(cap_depth[c]), c) for c in range(len(_CAPSULES))]
    parts[_NECK] = (torso_depth + 1e-3, _NECK)
    parts += [(torso_depth, -1), (-1e9, -2)]
    # Every capsule's shade at once (as `_shade` does one colour).
    shades = _shade_all(palette[_CAP_COLOUR], np.array([p[0] for p in parts[:len(_CAPSULES)]]) - torso_depth)
    for part_depth, c in sorted(parts, key=lambda p: -p[0]):
        if c >= 0:
            colour = shades[c]
            dark = tuple(v * 0.55 for v in colour)
            cv2.fillConvexPoly(canvas, outer[c], dark, cv2.LINE_AA, _SHIFT)
            cv2.circle(canvas, fa[c], ra_out[c], dark, -1, cv2.LINE_AA, _SHIFT)
            cv2.circle(canvas, fb[c], rb_out[c], dark, -1, cv2.LINE_AA, _SHIFT)
            cv2.fillConvexPoly(canvas, inner[c], colour, cv2.LINE_AA, _SHIFT)
            cv2.circle(canvas, fa[c], ra[c], colour, -1, cv2.LINE_AA, _SHIFT)
            cv2.circle(canvas, fb[c], rb[c], colour, -1, cv2.LINE_AA, _SHIFT)
        elif c == -1:
            shirt = _shade(palette[_SHIRT], 0.0)
            cv2.fillConvexPoly(canvas, shirt_hull, shirt, cv2.LINE_AA, _SHIFT)
            cv2.fillConvexPoly(canvas, band_hull, _shade(palette[_PANTS], 0.0), cv2.LINE_AA, _SHIFT)
            cv2.polylines(canvas, [shirt_hull], True, tuple(v * 0.55 for v in shirt),
                          max(1, int(edge)), cv2.LINE_AA, _SHIFT)
            if np.cos(yaw) > 0.35:
                cv2.fillConvexPoly(canvas, _fx(neck_xy), _shade(palette[_SKIN], 0.0), cv2.LINE_AA, _SHIFT)
        else:
            _paint_head(canvas, head, xy, mouth_xy, seen, yaw, bodies, i)


@dataclass(frozen=True)
class _Head:
    """A head in frame pixels and as OpenCV fixed-point drawing arguments."""

    centre_px: np.ndarray
    radius: float
    centre: tuple[int, int]
    axes: tuple[int, int]
    axes_out: tuple[int, int]
    nose: tuple[int, int]
    nose_r: int
    ears: list[tuple[int, int]]
    ear_axes: tuple[int, int]

    @staticmethod
    def build(xy: np.ndarray, seen: np.ndarray, radius: float, edge: float) -> "_Head":
        """From a figure's points (K,2) in pixels, which face points are seen, head radius and outline width."""
        axes = (max(1, int(round(0.8 * radius * _ONE))), max(1, int(round(radius * _ONE))))
        return _Head(centre_px=xy[_P["head_center"]], radius=radius,
                     centre=tuple(int(v) for v in _fx(xy[_P["head_center"]])), axes=axes,
                     axes_out=(axes[0] + int(edge * _ONE), axes[1] + int(edge * _ONE)),
                     nose=tuple(int(v) for v in _fx(xy[_P["nose"]])),
                     nose_r=max(int(0.12 * radius * _ONE), _ONE // 2),
                     ears=[tuple(int(v) for v in _fx(xy[_P[n]])) for n in ("left_ear", "right_ear") if seen[_P[n]]],
                     ear_axes=(max(1, int(0.17 * radius * _ONE)), max(1, int(0.27 * radius * _ONE))))


def _paint_head(canvas: np.ndarray, head: _Head, xy: np.ndarray, mouth_xy: np.ndarray, seen: np.ndarray,
                yaw: float, bodies: Bodies, i: int) -> None:
    """Head: hair-coloured ellipse, the visible part of the face in skin, ears, eyes, nose, mouth.

    `seen` (K,) says which face points face the camera (`self_visible`), so what is
    drawn is exactly what the ground truth labels.
    """
    skin = tuple(float(v) for v in bodies.skin[i])
    hair = tuple(float(v) for v in bodies.hair[i])
    cv2.ellipse(canvas, head.centre, head.axes_out, 0, 0, 360, tuple(v * 0.6 for v in hair), -1, cv2.LINE_AA, _SHIFT)
    cv2.ellipse(canvas, head.centre, head.axes, 0, 0, 360, hair, -1, cv2.LINE_AA, _SHIFT)
    facing, side = float(np.cos(yaw)), float(np.sin(yaw))
    if facing > -0.45:
        # The face is a disc shifted toward the facing side, clipped to the head outline.
        away = max(0.0, -facing)
        offset = np.array([0.42 * side * (1 + 0.8 * away), 0.2]) * head.radius
        rf = head.radius * (0.9 - 0.25 * (1 - max(facing, 0.0)) - 0.5 * away)
        if rf > np.linalg.norm(offset) + 0.05 * head.radius:
            disc = offset + rf * _CIRCLE
            norm = np.hypot(disc[:, 0] / 0.8, disc[:, 1]) / (0.97 * head.radius)
            face = head.centre_px + disc / np.maximum(norm, 1.0)[:, None]
            cv2.fillConvexPoly(canvas, _fx(face), skin, cv2.LINE_AA, _SHIFT)
    for ear in head.ears:
        cv2.ellipse(canvas, ear, head.ear_axes, 0, 0, 360, skin, -1, cv2.LINE_AA, _SHIFT)
    if seen[_P["nose"]]:
        cv2.circle(canvas, head.nose, head.nose_r, tuple(v * 0.6 for v in skin), -1, cv2.LINE_AA, _SHIFT)
    if head.radius < 2.5:  # too small a face for eyes and a mouth
        return
    eye_r = max(int(0.1 * head.radius * _ONE), _ONE // 2)
    for name in ("left_eye", "right_eye"):
        if seen[_P[name]]:
            cv2.circle(canvas, tuple(_fx(xy[_P[name]])), eye_r, (30, 25, 25), -1, cv2.LINE_AA, _SHIFT)
    if seen[_P["nose"]] and facing > 0.2:
        cv2.polylines(canvas, [_fx(mouth_xy)], False, (60, 50, 140), max(1, int(0.08 * head.radius)),
                      cv2.LINE_AA, _SHIFT)
