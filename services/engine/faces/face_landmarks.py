"""Landmark indices of MediaPipe's 468-point face mesh, and mouth measures built on them.

"Left" and "right" are the subject's: the subject's right eye is on the image's left in an
unmirrored photo. Loops are ordered around the contour and do not repeat the first point.
"""

from __future__ import annotations

import numpy as np

NOSE_TIP = 1
CHIN = 152
FOREHEAD = 10

# Mouth corners on the outer lip contour (subject's right, left).
MOUTH_RIGHT = 61
MOUTH_LEFT = 291
# Corners of the inner lip contour.
INNER_MOUTH_RIGHT = 78
INNER_MOUTH_LEFT = 308
UPPER_INNER_LIP_MID = 13
LOWER_INNER_LIP_MID = 14
UPPER_OUTER_LIP_MID = 0
LOWER_OUTER_LIP_MID = 17

# Outer lip contour: upper lip from the right corner to the left corner, then the lower lip back.
OUTER_LIP_UPPER = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291)
OUTER_LIP_LOWER = (291, 375, 321, 405, 314, 17, 84, 181, 91, 146, 61)
OUTER_LIPS = OUTER_LIP_UPPER + OUTER_LIP_LOWER[1:-1]

# Inner lip contour (the mouth opening), same order.
INNER_LIP_UPPER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
INNER_LIP_LOWER = (308, 324, 318, 402, 317, 14, 87, 178, 88, 95, 78)
INNER_LIPS = INNER_LIP_UPPER + INNER_LIP_LOWER[1:-1]

# Central upper/lower inner-lip pairs, one above the other, for the mouth opening.
INNER_LIP_PAIRS = ((13, 14), (82, 87), (312, 317), (81, 178), (311, 402))

# Eyes: lids from the outer corner to the inner corner.
RIGHT_EYE_OUTER = 33
RIGHT_EYE_INNER = 133
LEFT_EYE_OUTER = 263
LEFT_EYE_INNER = 362
RIGHT_EYE_UPPER = (33, 246, 161, 160, 159, 158, 157, 173, 133)
RIGHT_EYE_LOWER = (33, 7, 163, 144, 145, 153, 154, 155, 133)
LEFT_EYE_UPPER = (263, 466, 388, 387, 386, 385, 384, 398, 362)
LEFT_EYE_LOWER = (263, 249, 390, 373, 374, 380, 381, 382, 362)
RIGHT_EYE = RIGHT_EYE_UPPER + RIGHT_EYE_LOWER[-2:0:-1]
LEFT_EYE = LEFT_EYE_UPPER + LEFT_EYE_LOWER[-2:0:-1]

# Face oval, clockwise in the image from the top of the forehead.
FACE_OVAL = (
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
    152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
)  # fmt: skip


def eye_centers(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(right, left) eye centres in x, y: the mean of each eye's corners."""
    xy = landmarks[:, :2].astype(np.float64)
    right = (xy[RIGHT_EYE_OUTER] + xy[RIGHT_EYE_INNER]) / 2
    left = (xy[LEFT_EYE_OUTER] + xy[LEFT_EYE_INNER]) / 2
    return right, left


def interocular(landmarks: np.ndarray) -> float:
    """Distance between the eye centres: a face scale that does not change as the mouth moves."""
    right, left = eye_centers(landmarks)
    return float(np.linalg.norm(left - right))


def mouth_opening(landmarks: np.ndarray) -> float:
    """Gap between the inner lips over the inter-ocular distance (0 when closed, ~0.3-0.5 wide
    open). Measured along the face's vertical axis so a tilted head reads the same."""
    xy = landmarks[:, :2].astype(np.float64)
    right, left = eye_centers(landmarks)
    across = left - right
    scale = float(np.linalg.norm(across))
    if scale <= 1e-6:
        return 0.0
    down = np.array([-across[1], across[0]]) / scale  # perpendicular to the eye line, chin-ward
    upper = np.array([p[0] for p in INNER_LIP_PAIRS])
    lower = np.array([p[1] for p in INNER_LIP_PAIRS])
    gaps = (xy[lower] - xy[upper]) @ down
    return max(0.0, float(gaps.mean()) / scale)


def mouth_width(landmarks: np.ndarray) -> float:
    """Distance between the outer mouth corners over the inter-ocular distance."""
    xy = landmarks[:, :2].astype(np.float64)
    scale = interocular(landmarks)
    if scale <= 1e-6:
        return 0.0
    return float(np.linalg.norm(xy[MOUTH_LEFT] - xy[MOUTH_RIGHT])) / scale
