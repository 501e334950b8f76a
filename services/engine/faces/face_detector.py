"""BlazeFace short-range face detection, on the whole image and on a pyramid of tiles.

The short-range model expects a face that fills a good part of its 128x128 input, so a small face
(a group photo, two people side by side in a wide frame) is missed on the whole image. We also run
it on square tiles at halving sizes, each overlapping its neighbours by half, and merge everything
with weighted non-maximum suppression.

Model facts (MediaPipe's face_detection_short_range graph): input RGB scaled to [-1, 1]; 896 anchors
(16x16 cells x 2 at stride 8, 8x8 cells x 6 at stride 16, all of unit size); per anchor 16 numbers:
box centre x, y, width, height then 6 keypoints (x, y), all in input pixels relative to the anchor;
one logit per anchor. Keypoints: subject's right eye, left eye, nose tip, mouth centre, right ear
tragion, left ear tragion (the subject's right eye is on the image's left).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from services.engine.faces.tflite_model import TFLiteModel

INPUT_SIZE = 128
SCORE_THRESHOLD = 0.5
NMS_IOU = 0.3
# Measured on two portraits: faces are found down to ~11% of the input's width (face width, as
# the landmarks' box; ~13% in its longer side, `Face.size`). Tiles are planned for 15%.
MIN_FACE_FRACTION = 0.15
# Model runs per image at most (~0.8 ms each; 480p needs 25, 1080p 123 to reach 48 px faces).
MAX_TILES = 128

RIGHT_EYE, LEFT_EYE, NOSE_TIP, MOUTH_CENTER, RIGHT_EAR, LEFT_EAR = range(6)

_MODEL = TFLiteModel("face_detection_short_range.tflite")


@dataclass
class Detection:
    """One detected face in image pixels."""

    box: np.ndarray  # [4] x0, y0, x1, y1
    keypoints: np.ndarray  # [6, 2] x, y
    score: float


def _anchors() -> np.ndarray:
    """[896, 2] anchor centres in [0, 1] input coordinates, in the model's output order."""
    centers = []
    for stride, per_cell in ((8, 2), (16, 6)):
        cells = INPUT_SIZE // stride
        ys, xs = np.mgrid[0:cells, 0:cells]
        grid = np.stack([(xs + 0.5) / cells, (ys + 0.5) / cells], axis=-1).reshape(-1, 2)
        centers.append(np.repeat(grid, per_cell, axis=0))
    return np.concatenate(centers).astype(np.float32)


_ANCHORS = _anchors()


def _decode(raw_boxes: np.ndarray, raw_scores: np.ndarray) -> list[Detection]:
    """Model outputs -> detections above threshold, in [0, 1] input coordinates, after NMS."""
    scores = 1.0 / (1.0 + np.exp(-np.clip(raw_scores.reshape(-1).astype(np.float64), -100.0, 100.0)))
    keep = np.nonzero(scores >= SCORE_THRESHOLD)[0]
    if keep.size == 0:
        return []
    raw = raw_boxes.reshape(-1, 16)[keep] / INPUT_SIZE
    anchors = _ANCHORS[keep]
    center = raw[:, 0:2] + anchors
    half = raw[:, 2:4] / 2.0
    boxes = np.concatenate([center - half, center + half], axis=1)
    keypoints = raw[:, 4:16].reshape(-1, 6, 2) + anchors[:, None, :]
    found = [Detection(b, k, float(s)) for b, k, s in zip(boxes, keypoints, scores[keep], strict=True)]
    return weighted_nms(found, NMS_IOU)


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    x0 = np.maximum(box[0], boxes[:, 0])
    y0 = np.maximum(box[1], boxes[:, 1])
    x1 = np.minimum(box[2], boxes[:, 2])
    y1 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return np.asarray(inter / np.maximum(area + areas - inter, 1e-9))


def weighted_nms(detections: list[Detection], iou_threshold: float) -> list[Detection]:
    """Each cluster of overlapping boxes becomes their score-weighted mean (steadier than the max)."""
    if not detections:
        return []
    order = sorted(detections, key=lambda d: -d.score)
    boxes = np.stack([d.box for d in order])
    remaining = np.arange(len(order))
    merged = []
    while remaining.size:
        best = order[remaining[0]]
        overlap = box_iou(best.box, boxes[remaining]) > iou_threshold
        cluster = remaining[overlap]
        weights = np.array([order[i].score for i in cluster], dtype=np.float32)
        weights /= weights.sum()
        box = np.tensordot(weights, boxes[cluster], axes=1)
        kps = np.tensordot(weights, np.stack([order[i].keypoints for i in cluster]), axes=1)
        merged.append(Detection(box.astype(np.float32), kps.astype(np.float32), best.score))
        remaining = remaining[~overlap]
    return merged


def _run(tile: np.ndarray) -> list[Detection]:
    """Detect on one 128x128 uint8 RGB tile; coordinates in tile pixels."""
    x = tile.astype(np.float32)[None] * (2.0 / 255.0) - 1.0
    raw_boxes, raw_scores = _MODEL.run(x)
    found = _decode(raw_boxes, raw_scores)
    for d in found:
        d.box = d.box * INPUT_SIZE
        d.keypoints = d.keypoints * INPUT_SIZE
    return found


def _positions(length: int, tile: int) -> list[int]:
    """Tile origins along one axis, half-overlapping, the last flush with the end."""
    if length <= tile:
        return [0]
    count = math.ceil((length - tile) / (tile / 2)) + 1
    return [round(i * (length - tile) / (count - 1)) for i in range(count)]


def _detect_whole(image: np.ndarray) -> list[Detection]:
    """The whole image letterboxed into the input, as MediaPipe runs it."""
    h, w = image.shape[:2]
    scale = INPUT_SIZE / max(h, w)
    rw, rh = max(1, round(w * scale)), max(1, round(h * scale))
    canvas = np.zeros((INPUT_SIZE, INPUT_SIZE, 3), np.uint8)
    ox, oy = (INPUT_SIZE - rw) // 2, (INPUT_SIZE - rh) // 2
    canvas[oy : oy + rh, ox : ox + rw] = cv2.resize(image, (rw, rh), interpolation=cv2.INTER_AREA)
    found = _run(canvas)
    for d in found:
        offset = np.array([ox, oy], np.float32)
        d.box = ((d.box.reshape(2, 2) - offset) * np.array([w / rw, h / rh])).reshape(4)
        d.keypoints = (d.keypoints - offset) * np.array([w / rw, h / rh], np.float32)
    return found


def _cut_by_tile(box: np.ndarray, x0: int, y0: int, rw: int, rh: int) -> bool:
    """A box near a tile edge that is not the image's edge is likely a partial face."""
    margin = 0.1 * (box[2] - box[0])
    cut_left = x0 > 0 and box[0] < margin
    cut_top = y0 > 0 and box[1] < margin
    cut_right = x0 + INPUT_SIZE < rw and box[2] > INPUT_SIZE - margin
    cut_bottom = y0 + INPUT_SIZE < rh and box[3] > INPUT_SIZE - margin
    return bool(cut_left or cut_top or cut_right or cut_bottom)


def _detect_level(image: np.ndarray, side: int) -> list[Detection]:
    """Tiles of `side` image pixels: resize the image once, then cut 128x128 tiles from it."""
    h, w = image.shape[:2]
    scale = INPUT_SIZE / side
    rw, rh = max(INPUT_SIZE, round(w * scale)), max(INPUT_SIZE, round(h * scale))
    resized = cv2.resize(image, (rw, rh), interpolation=cv2.INTER_AREA)
    sx, sy = w / rw, h / rh
    found = []
    for y0 in _positions(rh, INPUT_SIZE):
        for x0 in _positions(rw, INPUT_SIZE):
            for d in _run(resized[y0 : y0 + INPUT_SIZE, x0 : x0 + INPUT_SIZE]):
                if _cut_by_tile(d.box, x0, y0, rw, rh):
                    continue
                offset = np.array([x0, y0], np.float32)
                to_image = np.array([sx, sy], np.float32)
                d.box = ((d.box.reshape(2, 2) + offset) * to_image).reshape(4)
                d.keypoints = (d.keypoints + offset) * to_image
                found.append(d)
    return found


def tile_sides(height: int, width: int, min_face: int) -> list[int]:
    """Tile sizes below the whole image: the short side, then halving while a `min_face` face
    would be under MIN_FACE_FRACTION of the tile, within a budget of MAX_TILES model runs."""
    sides: list[int] = []
    previous = max(height, width)  # the whole image
    side = min(height, width)
    runs = 1
    while side >= INPUT_SIZE and min_face < MIN_FACE_FRACTION * previous:
        runs += len(_positions(height, side)) * len(_positions(width, side))
        if runs > MAX_TILES:
            break
        if side < previous:  # a square image's first tile is the whole image
            sides.append(side)
        previous, side = side, side // 2
    return sides


def detect_faces(image_rgb: np.ndarray, min_face: int = 48, tiles: bool = True) -> list[Detection]:
    """All faces in an (H, W, 3) uint8 RGB image, most confident first, in pixel coordinates
    (pixel centres at integers)."""
    found = _detect_whole(image_rgb)
    if tiles:
        height, width = image_rgb.shape[:2]
        for side in tile_sides(height, width, min_face=min_face):
            found += _detect_level(image_rgb, side)
    merged = weighted_nms(found, NMS_IOU)
    for d in merged:
        # Model outputs are continuous (pixel i spans [i, i+1]); callers index pixel centres.
        d.box = (d.box - 0.5).astype(np.float32)
        d.keypoints = (d.keypoints - 0.5).astype(np.float32)
    return merged
