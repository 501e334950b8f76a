"""Draws one face for one frame: mouth, blink and head pose.

Only blocks around the face change between frames, so a frame costs a few small remaps,
independent of the picture's size.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from services.engine.render.eye_warp import EyeFrame, eyes_of, warp_eye
from services.engine.render.mouth_bank import MouthBank, ring_light
from services.engine.render.mouth_interior import InteriorPalette, paint_interior
from services.engine.render.mouth_warp import MAX_GAP, MouthFrame, MouthShapeFrame, MouthWarper, Region

Box = tuple[int, int, int, int]


def softness_for(upscale: float) -> float:
    """Blur (pixels) for painting into a picture enlarged `upscale` times from its source, so
    the painting is no sharper than the picture (a picture at or below its size: none)."""
    return 1.6 * max(upscale - 1.0, 0.0)


@dataclass(frozen=True)
class HeadPose:
    angle: float = 0.0  # radians
    dx: float = 0.0  # fractions of the face size
    dy: float = 0.0

    def is_still(self) -> bool:
        return abs(self.angle) < 1e-5 and abs(self.dx) < 1e-5 and abs(self.dy) < 1e-5


def _union(boxes: list[Box]) -> Box:
    return (min(b[0] for b in boxes), min(b[1] for b in boxes),
            max(b[2] for b in boxes), max(b[3] for b in boxes))


class FaceAnimator:
    """Animates one face whose landmarks are known in the source picture.

    A frame is drawn in two steps: the mouth and eyes are warped in place (blocks whose maps
    depend only on the face, so their set-up is cached), then, if the head moves, the head's
    block is moved with one more remap.
    """

    def __init__(self, source: np.ndarray, landmarks: np.ndarray, mask: np.ndarray | None = None,
                 palette: InteriorPalette | None = None, bounds: Box | None = None,
                 video: bool = False, softness: float = 0.0, bank: MouthBank | None = None) -> None:
        """`video`: the source is a video frame whose lip gap is speech to neutralise.
        `softness`: blur (pixels) of the painted interior, to match the picture's own.
        `bank`: the speaker's own mouth interiors (dubbing), used before paint."""
        self.softness = softness
        self.bank = bank
        height, width = source.shape[:2]
        self.size = (width, height)
        self.bounds: Box = bounds or (0, 0, width, height)
        self.mouth = MouthFrame.from_landmarks(landmarks, source)
        self.eyes: list[EyeFrame] = eyes_of(landmarks)
        self.palette = palette or InteriorPalette.from_face(source, landmarks)
        xy = landmarks[:, :2]
        lo, hi = xy.min(axis=0), xy.max(axis=0)
        self.face_size = float(max(hi - lo))
        centre = (lo + hi) / 2
        self.pivot = np.array([centre[0], hi[1] + 0.25 * (hi[1] - lo[1])])
        self.mouth_box = self._clip(self._grow(self.mouth.roi(self.size), 0.04))
        self.eye_boxes = [self._clip(eye.roi(self.size)) for eye in self.eyes]
        # The head and neck move; the shoulders, further down, stay put.
        head = (int(centre[0] - 1.0 * self.face_size), int(centre[1] - 1.25 * self.face_size),
                int(centre[0] + 1.0 * self.face_size), int(centre[1] + 0.95 * self.face_size))
        self.head_box = self._clip(_union([head, self.mouth_box, *self.eye_boxes]))
        self._mask = mask
        self._mouth_grid = _grid(self.mouth_box)
        # The smooth field is computed on every `step`-th pixel and interpolated; the lips, where
        # the field breaks along the lip line, get every pixel.
        # A tiny face is done in one pass over every pixel.
        box = self.mouth_box
        area = (box[2] - box[0]) * (box[3] - box[1])
        self._step = 3 if area > 60_000 else 2 if area > 8_000 else 1
        self._last_mouth: tuple[MouthShapeFrame, np.ndarray] | None = None
        self._coarse_grid = _coarse_grid(box, self._step)
        region = Region(self.mouth, *self._mouth_grid)
        self._coarse_warper: MouthWarper | None = None
        if self._step == 1:
            self.lips_box: Box = box
        else:
            self._coarse_warper = MouthWarper(self.mouth, *self._coarse_grid, neutralise_jaw=video,
                                              region=region, compact=True)
            lips = self.mouth.lips_roi(self.size)
            self.lips_box = (max(lips[0], box[0]), max(lips[1], box[1]),
                             min(lips[2], box[2]), min(lips[3], box[3]))
        self._lips_grid = _grid(self.lips_box)
        self._lips_warper = MouthWarper(self.mouth, *self._lips_grid, neutralise_jaw=video,
                                        region=region)
        # Made on the first move (videos never move), then reused by every frame.
        self._head_weight: np.ndarray | None = None
        self._head_grid: tuple[np.ndarray, np.ndarray] | None = None
        self._work: np.ndarray | None = None  # the still picture with mouth and eyes drawn
        self._eyes_drawn = False

    def _grow(self, box: Box, fraction: float) -> Box:
        pad = int(fraction * self.face_size) + 2
        return box[0] - pad, box[1] - pad, box[2] + pad, box[3] + pad

    def _clip(self, box: Box) -> Box:
        b = self.bounds
        return max(box[0], b[0]), max(box[1], b[1]), min(box[2], b[2]), min(box[3], b[3])

    def _mask_of(self, box: Box) -> np.ndarray | None:
        return None if self._mask is None else self._mask[box[1]:box[3], box[0]:box[2]]

    def render(self, source: np.ndarray, out: np.ndarray, shape: MouthShapeFrame,
               blink: float = 0.0, pose: HeadPose | None = None, reach: float | None = None) -> None:
        """Draw this face's part of the frame into `out` (a picture the size of `source`).
        `reach`: the widest this opening gets (`mouth_bank.opening_reach`), for the bank."""
        moving = pose is not None and not pose.is_still()
        if moving and self._work is None:
            self._work = source.copy()
        target = self._work if moving and self._work is not None else out
        self._draw_mouth(source, target, shape, reach)
        if blink > 0.02 or self._eyes_drawn:
            self._draw_eyes(source, target, blink)
        if moving and pose is not None:
            self._move_head(target, out, pose)

    def _draw_mouth(self, source: np.ndarray, target: np.ndarray, shape: MouthShapeFrame,
                    reach: float | None = None) -> None:
        box, lips = self.mouth_box, self.lips_box
        # Pauses and held closures repeat a shape: the block is the same as last time.
        if self._last_mouth is not None and self._last_mouth[0] == shape:
            target[box[1]:box[3], box[0]:box[2]] = self._last_mouth[1]
            return
        width, height = box[2] - box[0], box[3] - box[1]
        fine = self._lips_warper.warp(shape)
        ly0, lx0 = lips[1] - box[1], lips[0] - box[0]
        ly1, lx1 = ly0 + lips[3] - lips[1], lx0 + lips[2] - lips[0]
        if self._coarse_warper is None:
            map_x, map_y = fine.src_x, fine.src_y
        else:
            coarse = self._coarse_warper.warp(shape, interior=False)
            step = self._step
            # Interpolate the displacement, not the map: where nothing moves it stays exactly 0.
            cx, cy = self._coarse_grid
            up = (cx.shape[1] * step, cx.shape[0] * step)
            gx, gy = self._mouth_grid
            map_x = gx + cv2.resize(coarse.src_x - cx, up, interpolation=cv2.INTER_LINEAR)[:height, :width]
            map_y = gy + cv2.resize(coarse.src_y - cy, up, interpolation=cv2.INTER_LINEAR)[:height, :width]
            map_x[ly0:ly1, lx0:lx1] = fine.src_x
            map_y[ly0:ly1, lx0:lx1] = fine.src_y
        mask = self._mask_of(box)
        if mask is not None:
            gx, gy = self._mouth_grid
            map_x, map_y = gx + mask * (map_x - gx), gy + mask * (map_y - gy)
            fine.interior_alpha *= mask[ly0:ly1, lx0:lx1]
        block = cv2.remap(source, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        lips_block = block[ly0:ly1, lx0:lx1]
        reuse = None
        if self.bank is not None:
            # The speaker's own interior, brought to this frame's light.
            reuse = self.bank.choose(MAX_GAP * shape.open, ring_light(source, self.mouth), reach)
        paint_interior(lips_block, fine, self.palette, 2 * self.mouth.half_width, self.softness, reuse)
        target[box[1]:box[3], box[0]:box[2]] = block
        self._last_mouth = (shape, block)

    def _draw_eyes(self, source: np.ndarray, target: np.ndarray, blink: float) -> None:
        for eye, box in zip(self.eyes, self.eye_boxes, strict=True):
            if box[2] <= box[0] or box[3] <= box[1]:
                continue
            gx, gy = _grid(box)
            map_x, map_y = warp_eye(eye, gx, gy, blink)
            mask = self._mask_of(box)
            if mask is not None:
                map_x, map_y = gx + mask * (map_x - gx), gy + mask * (map_y - gy)
            target[box[1]:box[3], box[0]:box[2]] = cv2.remap(
                source, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        self._eyes_drawn = blink > 0.02

    def _move_head(self, picture: np.ndarray, out: np.ndarray, pose: HeadPose) -> None:
        """Where each pixel of the head block was before the head moved, blended by how much
        of the head's motion it follows (1 inside the head, 0 at the block's edge)."""
        box = self.head_box
        if self._head_weight is None or self._head_grid is None:
            self._head_weight = _ellipse_weight(box)
            self._head_grid = _grid(box)
        gx, gy = self._head_grid
        c, s = np.cos(-pose.angle), np.sin(-pose.angle)
        px, py = self.pivot
        tx, ty = pose.dx * self.face_size, pose.dy * self.face_size
        # The inverse rigid motion as an affine map of (x, y).
        a11, a12, a21, a22 = c - 1.0, -s, s, c - 1.0
        bx = -(c * (px + tx) - s * (py + ty)) + px
        by = -(s * (px + tx) + c * (py + ty)) + py
        w = self._head_weight
        map_x = gx + w * (np.float32(a11) * gx + np.float32(a12) * gy + np.float32(bx))
        map_y = gy + w * (np.float32(a21) * gx + np.float32(a22) * gy + np.float32(by))
        out[box[1]:box[3], box[0]:box[2]] = cv2.remap(
            picture, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def _grid(box: Box) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates of `box` (x, y arrays of its shape)."""
    height, width = box[3] - box[1], box[2] - box[0]
    gx = np.empty((height, width), np.float32)
    gy = np.empty((height, width), np.float32)
    gx[:] = np.arange(box[0], box[2], dtype=np.float32)[None, :]
    gy[:] = np.arange(box[1], box[3], dtype=np.float32)[:, None]
    return gx, gy


def _coarse_grid(box: Box, step: int) -> tuple[np.ndarray, np.ndarray]:
    """Every `step`-th pixel of `box`, at the centres of step x step cells, so that resizing
    the values by `step` (cv2's pixel-centre convention) puts them back exactly."""
    nx = -(-(box[2] - box[0]) // step)
    ny = -(-(box[3] - box[1]) // step)
    xs = box[0] + step * np.arange(nx, dtype=np.float32) + (step - 1) / 2
    ys = box[1] + step * np.arange(ny, dtype=np.float32) + (step - 1) / 2
    gx, gy = np.meshgrid(xs, ys)
    return gx, gy


def _ellipse_weight(box: Box) -> np.ndarray:
    gx, gy = _grid(box)
    rx = max((box[2] - box[0]) / 2, 1.0)
    ry = max((box[3] - box[1]) / 2, 1.0)
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    r = np.sqrt(((gx - cx) / rx) ** 2 + ((gy - cy) / ry) ** 2)
    w = np.clip((1.0 - r) / 0.45, 0, 1)
    return (w * w * (3 - 2 * w)).astype(np.float32)
