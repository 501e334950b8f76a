"""Measuring lip sync on a rendered video, the way a viewer would see it.

The face mesh runs afresh on every decoded frame of the output (crop from the previous frame's
raw landmarks, as MediaPipe's own tracking does; no smoothing), so the figures come from the
pixels, not from the renderer's internal state. Used by the benchmark and the end-to-end tests.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from services.engine.engine_errors import InputError
from services.engine.faces import face_boxes as faces
from services.engine.faces import face_landmarks, face_mesh
from services.engine.media import av_io as media
from services.engine.mouth.visemes import Viseme


def measure_openings(video: str | Path, count: int = 1) -> np.ndarray:
    """Lip gap per frame for the `count` faces ordered left to right: [frames, count], NaN
    where a face was not found."""
    info = media.probe_video(video)
    return frame_openings(media.iter_video_frames(video, (info.width, info.height), 1_000_000), count)


def frame_openings(frames: Iterable[np.ndarray], count: int = 1) -> np.ndarray:
    """`measure_openings` on decoded RGB frames (a live stream's, as received)."""
    rows: list[list[float]] = []
    tracked: list[np.ndarray] | None = None
    for frame in frames:
        if tracked is None:
            # Detections confirmed by the mesh (the tile pass also yields weak false boxes).
            try:
                found = faces.select_faces(frame, count=count, min_size=16)
            except InputError:
                rows.append([np.nan] * count)
                continue
            rois = [face_mesh.roi_from_landmarks(f.landmarks) for f in found]
        else:
            rois = [face_mesh.roi_from_landmarks(lm) for lm in tracked]
        results = [face_mesh.run_mesh(frame, roi) for roi in rois]
        if min(presence for _, presence in results) < 0.5:
            tracked = None
            rows.append([np.nan] * count)
            continue
        tracked = [lm for lm, _ in results]
        rows.append([face_landmarks.mouth_opening(lm) for lm in tracked])
    return np.array(rows, np.float64).reshape(-1, count)


def calibrate_face(face: Path, speech: Path, folder: Path) -> tuple[float, float]:
    """(shut, wide open): the lip gap the face mesh measures on renders of `face` with the mouth
    held shut and held wide open. Faces differ (a smile with teeth reads as slightly open), so
    measured openings are rescaled per face with these two."""
    from services.engine.mouth.mouth_track import rest_shapes
    from services.engine.render import renderer as render

    levels = []
    for open_ in (0.0, 1.0):
        def held(audio48k: np.ndarray, frames: int, open_: float = open_) -> np.ndarray:
            shapes = rest_shapes(frames)
            shapes[:, 0] = open_
            return shapes

        video = folder / f"calibrate_{face.stem}_{open_:.0f}.mp4"
        render.render_image(face, speech, video, seed=5, shapes_from=held)
        levels.append(float(np.nanmedian(measure_openings(video)[:, 0])))
    return levels[0], levels[1]


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Correlation over the frames where both are finite."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    n = min(len(a), len(b))
    a, b = a[:n], b[:n]
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3:
        return float("nan")
    a, b = a[ok] - a[ok].mean(), b[ok] - b[ok].mean()
    denom = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denom) if denom > 0 else 0.0


def align_at_lag(measured: np.ndarray, truth: np.ndarray, lag: int) -> tuple[np.ndarray, np.ndarray]:
    """The two tracks aligned with the video shifted by `lag` frames (positive: video late)."""
    if lag >= 0:
        m, t = measured[lag:], truth[: max(len(truth) - lag, 0)]
    else:
        m, t = measured[:lag], truth[-lag:]
    n = min(len(m), len(t))
    return m[:n], t[:n]


def closure_intervals(measured: np.ndarray, truth_visemes: np.ndarray,
                      threshold: float) -> tuple[int, int]:
    """(p/b/m intervals in which the lips are measured shut at least once, all such intervals)."""
    bilabial = np.asarray(truth_visemes) == Viseme.BILABIAL
    hits = total = 0
    i, n = 0, min(len(bilabial), len(measured))
    while i < n:
        if not bilabial[i]:
            i += 1
            continue
        j = i
        while j < n and bilabial[j]:
            j += 1
        total += 1
        hits += int(np.nanmin(measured[i:j], initial=np.inf) < threshold)
        i = j
    return hits, total
