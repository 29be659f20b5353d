"""The world around the synthetic people: textured backgrounds, crowds, objects, camera, effects.

The scene is a canvas somewhat larger than the frame. Its lower part is a ground
plane seen in perspective: a person (or object) at depth scale s stands on the line
`horizon + s * ground_gain` and is `s * ref_height` pixels tall. A moving camera
(pan and zoom) maps the canvas to each frame by an affine matrix; the background
is rendered once per clip and warped, people and objects are drawn directly in
frame coordinates. Distant crowds are painted into the background and reported as
ignore regions, as PoseTrack does for crowds nobody annotates.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

OBJECT_LABEL = 255  # label-image value of scene objects (people use 1..254)


@dataclass(frozen=True)
class SceneLayout:
    """Canvas geometry: frame size (W,H), canvas size, horizon line, adult height at scale 1."""

    frame_size: tuple[int, int]
    width: int
    height: int
    horizon: float
    ref_height: float

    @property
    def ground_gain(self) -> float:
        return 0.85 * self.ref_height

    def ground_y(self, scale: np.ndarray | float) -> np.ndarray:
        """Canvas y of the ground under something at depth `scale`."""
        return self.horizon + np.asarray(scale, np.float64) * self.ground_gain

    @property
    def view(self) -> tuple[float, float]:
        """Canvas x range seen by the camera at rest."""
        return (self.width - self.frame_size[0]) / 2, (self.width + self.frame_size[0]) / 2


def sample_layout(rng: np.random.Generator, frame_size: tuple[int, int]) -> SceneLayout:
    """A canvas 1.3 x 1.2 the frame, horizon at 30-42% of its height, adults ~0.72 frame heights tall."""
    w, h = frame_size
    height = int(round(1.2 * h))
    return SceneLayout(frame_size=(w, h), width=int(round(1.3 * w)), height=height,
                       horizon=float(rng.uniform(0.3, 0.42) * height),
                       ref_height=float(0.72 * h * rng.uniform(0.85, 1.1)))


@dataclass(frozen=True)
class Camera:
    """View centre (cx, cy) on the canvas and zoom per frame, arrays (T,)."""

    cx: np.ndarray
    cy: np.ndarray
    zoom: np.ndarray
    frame_size: tuple[int, int]

    def matrix(self, t: int) -> np.ndarray:
        """Affine (2,3) from canvas to frame t: zoom about the view centre."""
        z = float(self.zoom[t])
        w, h = self.frame_size
        return np.array([[z, 0.0, w / 2 - z * self.cx[t]], [0.0, z, h / 2 - z * self.cy[t]]])

    def speed(self, t: int) -> np.ndarray:
        """Image motion (2,) of the background between frames t-1 and t, pixels."""
        p = max(t - 1, 0)
        return np.array([self.cx[t] - self.cx[p], self.cy[t] - self.cy[p]]) * self.zoom[t]


@dataclass(frozen=True)
class CameraPath:
    """How a camera moves before it is fitted to a canvas: arrays (T,) and a tilt.

    pan: horizontal offset of the view as a fraction (-1..1) of the room the canvas
    leaves at that frame's zoom; zoom: magnification (>= 1, so the view stays on the
    canvas); shake_x, shake_y: jitter of the view centre in canvas pixels; tilt:
    vertical offset as a fraction of the vertical room.
    """

    pan: np.ndarray
    zoom: np.ndarray
    shake_x: np.ndarray
    shake_y: np.ndarray
    tilt: float


def sample_camera_path(rng: np.random.Generator, frames: int) -> CameraPath:
    """Static, slowly panning, or fast-panning camera with a gentle zoom and, when it moves, some shake."""
    t = np.arange(frames, dtype=np.float64)
    mode = rng.choice(3, p=[0.3, 0.5, 0.2])
    zoom = 1.0 + rng.uniform(0.0, 0.2) * (0.5 - 0.5 * np.cos(2 * np.pi * t / rng.uniform(60, 150)))
    if mode == 0:
        zoom = np.full(frames, zoom[0])
    if mode == 2:
        # A sweep across the canvas within the clip: fast enough to blur.
        ax = rng.uniform(0.6, 0.95) * rng.choice([-1.0, 1.0])
        px = ax * (2 * t / max(frames - 1, 1) - 1)
    else:
        px = (mode == 1) * rng.uniform(0.3, 0.9) * np.sin(2 * np.pi * t / rng.uniform(50, 120) + rng.uniform(0, 6.3))
    shake = np.convolve(rng.normal(0, 1.0, frames + 4), np.ones(5) / 5, mode="valid")[:frames]
    return CameraPath(pan=px, zoom=zoom, shake_x=(mode > 0) * shake * 2, shake_y=(mode > 0) * shake,
                      tilt=float(rng.uniform(-0.3, 0.3)))


def place_camera(layout: SceneLayout, path: CameraPath) -> Camera:
    """The camera of `path` over the canvas of `layout`: the view never leaves the canvas."""
    w, h = layout.frame_size
    zoom = path.zoom
    room_x = (layout.width - w / zoom) / 2
    room_y = (layout.height - h / zoom) / 2
    cx = layout.width / 2 + np.clip(path.pan * room_x + path.shake_x, -room_x, room_x)
    cy = layout.height / 2 + np.clip(path.tilt * room_y + path.shake_y, -room_y, room_y)
    return Camera(cx=cx, cy=cy, zoom=zoom, frame_size=(w, h))


def sample_camera(rng: np.random.Generator, layout: SceneLayout, frames: int) -> Camera:
    """Static, slowly panning, or fast-panning camera with a gentle zoom; the view stays on the canvas."""
    return place_camera(layout, sample_camera_path(rng, frames))


MAX_ZOOM = 1.5  # a zooming camera (`steer_camera`) moves between 1x and this


def steer_camera(path: CameraPath, layout: SceneLayout, rng: np.random.Generator, *, pan: float | None,
                 zoom_rate: float | None, shake: float | None) -> CameraPath:
    """`path` with the motions that are given replaced (None keeps the path's own).

    pan: mean image speed (px/frame at zoom 1) of a camera sweeping back and forth
    across the canvas; zoom_rate: mean relative change of the zoom per frame, in
    and out between 1x and MAX_ZOOM; shake: std (image px) of the view's
    frame-to-frame jitter along each axis. `rng` draws the phases and the jitter.
    """
    frames = len(path.zoom)
    t = np.arange(frames, dtype=np.float64)
    zoom, shake_x, shake_y, pan_frac = path.zoom, path.shake_x, path.shake_y, path.pan
    if zoom_rate is not None:
        # log zoom = L (1 - cos) / 2 moves on average 2 L / period a frame; rate 0 holds the zoom at 1.
        span = np.log(MAX_ZOOM)
        rate = np.log1p(zoom_rate)
        phase = rng.uniform(0, 2 * np.pi) if rate > 0 else 0.0
        zoom = np.exp(span * (0.5 - 0.5 * np.cos(2 * np.pi * t * rate / (2 * span) + phase)))
    if shake is not None:
        # Independent offsets of std s / sqrt(2) make frame-to-frame steps of std s.
        sigma = shake / np.sqrt(2) / zoom
        shake_x, shake_y = sigma * rng.standard_normal(frames), sigma * rng.standard_normal(frames)
    if pan is not None:
        w = layout.frame_size[0]
        room = (layout.width - w / zoom) / 2
        # The sweep spans the room at zoom 1 (a zoomed-in view would otherwise swing away from the people),
        # less room for the shake, so that it is not clipped at its ends.
        wide = (layout.width - w) / 2
        amplitude = max(wide - 3 * float(np.abs(shake_x).std()), 0.5 * wide)
        speed = pan / float(zoom.mean())  # canvas px/frame
        phase = rng.uniform(0, 2 * np.pi)
        # A sine of amplitude A and period P moves on average 4 A / P a frame.
        offset = amplitude * np.sin(2 * np.pi * t * speed / (4 * amplitude) + phase)
        pan_frac = offset / room
    return CameraPath(pan=pan_frac, zoom=zoom, shake_x=shake_x, shake_y=shake_y, tilt=path.tilt)


@dataclass(frozen=True)
class Effects:
    """Photometric effects: sensor noise sigma, blur per pixel of camera motion, lighting drift."""

    noise_sigma: float
    blur_gain: float
    light_amplitude: float
    light_period: float
    light_phase: float

    def gain(self, t: int) -> float:
        return 1.0 + self.light_amplitude * float(np.sin(2 * np.pi * t / self.light_period + self.light_phase))


def sample_effects(rng: np.random.Generator) -> Effects:
    """Noise sigma 1-6 grey levels, blur 0.6-1 px per px/frame of pan, lighting +-0-25% over 40-160 frames."""
    return Effects(noise_sigma=float(rng.uniform(1.0, 6.0)), blur_gain=float(rng.uniform(0.6, 1.0)),
                   light_amplitude=float(rng.uniform(0.0, 0.25)), light_period=float(rng.uniform(40, 160)),
                   light_phase=float(rng.uniform(0, 2 * np.pi)))


def apply_effects(frame: np.ndarray, effects: Effects, camera: Camera, t: int, noise: np.ndarray,
                  offset: tuple[int, int]) -> np.ndarray:
    """Motion blur along the camera motion, lighting gain, additive noise; returns a new frame.

    noise: an int16 noise bank at least as large as the frame plus `offset` (y, x).
    """
    h, w = frame.shape[:2]
    vx, vy = np.abs(camera.speed(t)) * effects.blur_gain
    kx, ky = int(vx) | 1, int(vy) | 1
    out = cv2.blur(frame, (kx, ky)) if max(kx, ky) >= 3 else frame
    out = cv2.convertScaleAbs(out, alpha=effects.gain(t), beta=0)
    oy, ox = offset
    return cv2.add(out, noise[oy:oy + h, ox:ox + w], dtype=cv2.CV_8U)


@dataclass(frozen=True)
class SceneObject:
    """A static occluder standing at depth `scale`: polygons (K,2) in canvas pixels, BGR colours."""

    scale: float
    polygons: tuple[np.ndarray, ...]
    colours: tuple[tuple[float, float, float], ...]


def _rect(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float64)


def _ellipse(cx: float, cy: float, ax: float, ay: float, n: int = 20) -> np.ndarray:
    a = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([cx + ax * np.cos(a), cy + ay * np.sin(a)], axis=1)


def sample_objects(rng: np.random.Generator, layout: SceneLayout, count: int) -> tuple[SceneObject, ...]:
    """Pillars, bushes, crates and signs standing in the view, at depths where people pass."""
    left, right = layout.view
    objects = []
    for _ in range(count):
        s = float(rng.uniform(0.45, 1.0))
        x = float(rng.uniform(left + 40, right - 40))
        ground = float(layout.ground_y(s))
        unit = s * layout.ref_height
        kind = rng.integers(4)
        base = rng.uniform(60, 200, 3)
        if kind == 0:  # pillar up to the top of the canvas, lit from one side
            half = unit * rng.uniform(0.07, 0.12)
            polys = [_rect(x - half, 0, x + half, ground), _rect(x + 0.4 * half, 0, x + half, ground),
                     _rect(x - 1.3 * half, ground - 0.05 * unit, x + 1.3 * half, ground)]
            cols = [base, base * 0.7, base * 0.85]
        elif kind == 1:  # bush: overlapping blobs
            n = int(rng.integers(4, 8))
            cx = x + rng.uniform(-0.3, 0.3, n) * unit
            cy = ground - rng.uniform(0.12, 0.3, n) * unit
            r = rng.uniform(0.12, 0.2, n) * unit
            polys = [_ellipse(a, b, c, c * 0.85) for a, b, c in zip(cx, cy, r)]
            green = np.array([40.0, 120.0, 50.0]) * rng.uniform(0.6, 1.3)
            cols = [green * rng.uniform(0.75, 1.2) for _ in range(n)]
        elif kind == 2:  # crate / low wall
            half = unit * rng.uniform(0.25, 0.5)
            top = ground - unit * rng.uniform(0.3, 0.55)
            polys = [_rect(x - half, top, x + half, ground), _rect(x - half, top, x + half, top + 0.06 * unit)]
            cols = [base, base * 0.75]
        else:  # sign: pole and board
            pole = unit * 0.02
            top = ground - unit * rng.uniform(0.9, 1.2)
            polys = [_rect(x - pole, top, x + pole, ground),
                     _rect(x - 0.22 * unit, top - 0.05 * unit, x + 0.22 * unit, top + 0.25 * unit)]
            cols = [np.array([90.0, 90.0, 90.0]), base]
        objects.append(SceneObject(s, tuple(polys), tuple(tuple(float(v) for v in np.clip(c, 0, 255))
                                                          for c in cols)))
    return tuple(objects)


def paint_object(canvas: np.ndarray, labels: np.ndarray, obj: SceneObject, matrix: np.ndarray) -> None:
    """Draw `obj` through the canvas->frame `matrix` into `canvas` and OBJECT_LABEL into `labels`, in place."""
    for poly, colour in zip(obj.polygons, obj.colours):
        pts = np.round((poly @ matrix[:, :2].T + matrix[:, 2]) * 16).astype(np.int32)
        cv2.fillPoly(canvas, [pts], colour, cv2.LINE_AA, 4)
        cv2.fillPoly(labels, [pts], OBJECT_LABEL, cv2.LINE_8, 4)


@dataclass(frozen=True)
class Crowd:
    """A distant crowd: little figures (M,4) = x, ground y, height, width (canvas px), colours (M,3)."""

    figures: np.ndarray
    colours: np.ndarray

    @property
    def polygon(self) -> np.ndarray:
        """Convex outline (K,2) of the crowd in canvas pixels: its ignore region."""
        x, y, h, w = self.figures.T
        corners = np.concatenate([np.stack([x - w, y - h], 1), np.stack([x + w, y - h], 1),
                                  np.stack([x - w, y], 1), np.stack([x + w, y], 1)]).astype(np.float32)
        hull = cv2.convexHull(corners)[:, 0]
        centre = hull.mean(axis=0)
        return (centre + (hull - centre) * 1.05).astype(np.float64)


def sample_crowd(rng: np.random.Generator, layout: SceneLayout) -> Crowd:
    """15-40 little figures far away (depth scale 0.1-0.2), side by side over 15-35% of the view."""
    left, right = layout.view
    m = int(rng.integers(15, 40))
    s = rng.uniform(0.1, 0.2)
    span = rng.uniform(0.15, 0.35) * (right - left)
    x = rng.uniform(left, right - span) + rng.uniform(0, span, m)
    y = layout.ground_y(s + rng.uniform(-0.03, 0.03, m))
    h = s * layout.ref_height * rng.uniform(0.8, 1.05, m)
    return Crowd(np.stack([x, y, h, 0.14 * h], axis=1), rng.uniform(30, 220, (m, 3)))


def _noise(rng: np.random.Generator, h: int, w: int, cell: int) -> np.ndarray:
    """Smooth noise (h,w) in [0,1] with features about `cell` pixels wide."""
    small = rng.random((h // cell + 2, w // cell + 2)).astype(np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC).clip(0, 1)


# Paving colours, written as RGB and flipped to BGR.
_PAVING = np.array([[170, 170, 165], [200, 185, 160], [170, 110, 90], [110, 110, 115], [190, 170, 130]],
                   np.float32)[:, ::-1].copy()


def render_background(rng: np.random.Generator, layout: SceneLayout, crowds: tuple[Crowd, ...]) -> np.ndarray:
    """The canvas (height, width, 3) uint8: a textured wall or sky above the horizon, a ground plane below."""
    h, w = layout.height, layout.width
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.zeros((h, w, 3), np.float32)
    top = yy < layout.horizon
    kind = rng.integers(3)
    if kind == 0:  # brick wall, each brick its own shade
        bh, bw = rng.uniform(10, 18), rng.uniform(28, 48)
        row = np.floor(yy / bh)
        col = np.floor((xx + (row % 2) * bw / 2) / bw)
        shade = _hash(row, col)
        mortar = ((yy % bh) < 2) | (((xx + (row % 2) * bw / 2) % bw) < 2)
        brick = np.array(rng.uniform([40, 60, 120], [90, 110, 190]), np.float32)
        wall = brick * (0.75 + 0.4 * shade)[..., None]
        img = np.where(mortar[..., None], np.float32(170), wall)
    elif kind == 1:  # sky with clouds over a row of buildings
        sky = np.array([235, 200, 160], np.float32) * (0.8 + 0.2 * yy / layout.horizon)[..., None]
        clouds = np.clip(_noise(rng, h, w, 60) * 2 - 1, 0, 1)[..., None]
        img = sky * (1 - clouds) + 245 * clouds
        for _ in range(int(rng.integers(3, 7))):
            x0 = rng.uniform(0, w)
            bw_, bh_ = rng.uniform(60, 200), rng.uniform(0.3, 0.9) * layout.horizon
            inside = (xx >= x0) & (xx < x0 + bw_) & (yy > layout.horizon - bh_)
            colour = rng.uniform(70, 200, 3).astype(np.float32)
            window = ((xx - x0) % 18 < 8) & ((yy % 22) < 10)
            img = np.where(inside[..., None], np.where(window[..., None], colour * 0.45, colour), img)
    else:  # foliage
        leaves = _noise(rng, h, w, 12) * 0.6 + _noise(rng, h, w, 40) * 0.4
        img = np.array([40, 110, 60], np.float32) * (0.5 + leaves)[..., None]
    ground_kind = rng.integers(3)
    depth = np.maximum(yy - layout.horizon, 1.0)
    if ground_kind == 0:  # perspective paving tiles
        vx = rng.uniform(0.3, 0.7) * w
        u = (xx - vx) / depth * rng.uniform(2, 4)
        v = 400.0 / depth
        lines = ((u % 1) < 0.04) | ((v % 1) < 0.05 * np.minimum(1, depth / 40))
        paving = _PAVING[rng.integers(len(_PAVING))] * rng.uniform(0.85, 1.1)
        tile = paving * (0.85 + 0.3 * _hash(np.floor(u), np.floor(v)))[..., None]
        ground = np.where(lines[..., None], tile * 0.6, tile)
    elif ground_kind == 1:  # grass
        grass = _noise(rng, h, w, 4) * 0.5 + _noise(rng, h, w, 30) * 0.5
        ground = np.array([50, 140, 80], np.float32) * (0.6 + 0.7 * grass)[..., None]
    else:  # asphalt
        ground = (90 + 40 * _noise(rng, h, w, 3) + 30 * _noise(rng, h, w, 50))[..., None].repeat(3, 2)
    img = np.where(top[..., None], img, ground)
    img *= (0.8 + 0.4 * _noise(rng, h, w, 150))[..., None]
    out = np.clip(img, 0, 255).astype(np.uint8)
    for crowd in crowds:
        _paint_crowd(out, crowd)
    return out


def _hash(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Deterministic pseudo-random value in [0,1) per integer cell (a, b)."""
    return (np.sin(a * 12.9898 + b * 78.233) * 43758.5453) % 1.0


def _paint_crowd(canvas: np.ndarray, crowd: Crowd) -> None:
    """Little figures, back rows first, softened by a blur of their region."""
    order = np.argsort(crowd.figures[:, 1])
    for (x, y, h, w), colour in zip(crowd.figures[order], crowd.colours[order]):
        c = tuple(float(v) for v in colour)
        body = np.round(np.array([[x - w, y - 0.8 * h], [x + w, y - 0.8 * h], [x + 0.7 * w, y], [x - 0.7 * w, y]])
                        * 16).astype(np.int32)
        cv2.fillConvexPoly(canvas, body, c, cv2.LINE_AA, 4)
        cv2.circle(canvas, (int(x * 16), int((y - 0.88 * h) * 16)), int(0.1 * h * 16), (90, 120, 160),
                   -1, cv2.LINE_AA, 4)
    x0, y0, bw, bh = cv2.boundingRect(crowd.polygon.astype(np.float32))
    x0, y0 = max(x0, 0), max(y0, 0)
    region = canvas[y0:y0 + bh, x0:x0 + bw]
    if region.size:
        region[:] = cv2.GaussianBlur(region, (3, 3), 0)
