"""Look at a render's mouth: a contact sheet of the lower face across frames, and the measures.

    .venv/bin/python bench/look.py VIDEO [--sheet SHEET.png] [--every N] [--columns 8]

The sheet crops every N-th frame around the mouth (nose to below the chin, from the first
tracked frame, so the crops stay put and motion shows), upscaled to `--tile` pixels wide, the
frame index in the corner; PNG or JPEG by the name's suffix. The measures (see
services/engine/measures/look_measures.py) are printed: brightest inner-mouth pixels minus cheek L*,
near-black share of the inner mouth, jawline edge strength open / closed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from services.engine.faces import face_landmarks as fl
from services.engine.measures.look_measures import FrameLook, measure_frame, summarize, tracked_frames

JPEG_QUALITY = 88


@dataclass(frozen=True)
class TilePick:
    """Which frames a sheet shows: every `every`-th from `first`, at most `tiles`."""

    first: int = 0
    every: int = 3
    tiles: int = 24

    def wants(self, index: int, taken: int) -> bool:
        return index >= self.first and (index - self.first) % self.every == 0 and taken < self.tiles


def look_at(video: Path, picks: Sequence[TilePick]) -> tuple[list[FrameLook],
                                                             list[list[tuple[int, np.ndarray]]]]:
    """Every tracked frame's look measures, and per pick its (index, mouth crop) tiles, cropped
    around the mouth of the first tracked frame (so the crops stay put and motion shows)."""
    looks: list[FrameLook] = []
    tiles: list[list[tuple[int, np.ndarray]]] = [[] for _ in picks]
    box: tuple[int, int, int, int] | None = None
    for index, frame, landmarks in tracked_frames(video):
        if landmarks is None:
            continue
        looks.append(measure_frame(index, frame, landmarks))
        if box is None:
            box = mouth_box(landmarks, (frame.shape[1], frame.shape[0]))
        for pick, taken in zip(picks, tiles, strict=True):
            if pick.wants(index, len(taken)):
                taken.append((index, frame[box[1]:box[3], box[0]:box[2]].copy()))
    return looks, tiles


def write_sheet(path: Path, tiles: list[tuple[int, np.ndarray]], columns: int, width: int) -> None:
    """`contact_sheet` of `tiles` to `path` (PNG or JPEG by its suffix)."""
    sheet = contact_sheet(tiles, min(columns, len(tiles)), width)
    if not cv2.imwrite(str(path), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR),
                       [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]):
        raise OSError(f"could not write {path}")


def mouth_box(landmarks: np.ndarray, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """The lower face around the mouth: from the nose tip to below the chin."""
    xy = landmarks[:, :2]
    centre = (xy[fl.MOUTH_LEFT] + xy[fl.MOUTH_RIGHT]) / 2
    mouth = float(np.linalg.norm(xy[fl.MOUTH_LEFT] - xy[fl.MOUTH_RIGHT]))
    top = float(xy[fl.NOSE_TIP][1]) - 0.15 * mouth
    bottom = float(xy[fl.CHIN][1]) + 0.45 * mouth
    half = 0.62 * (bottom - top)
    x0, x1 = int(max(0, centre[0] - half)), int(min(size[0], centre[0] + half))
    return x0, int(max(0, top)), x1, int(min(size[1], bottom))


def contact_sheet(tiles: list[tuple[int, np.ndarray]], columns: int, width: int) -> np.ndarray:
    """RGB tiles (index, crop) in rows, each scaled to `width` pixels, labelled."""
    h0, w0 = tiles[0][1].shape[:2]
    height = round(width * h0 / w0)
    rows = -(-len(tiles) // columns)
    sheet = np.zeros((rows * height, columns * width, 3), np.uint8)
    for k, (index, crop) in enumerate(tiles):
        tile = cv2.resize(crop, (width, height), interpolation=cv2.INTER_CUBIC)
        cv2.putText(tile, str(index), (6, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 0), 2)
        r, c = divmod(k, columns)
        sheet[r * height:(r + 1) * height, c * width:(c + 1) * width] = tile
    return sheet


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("video", type=Path)
    parser.add_argument("--sheet", type=Path, help="contact sheet path (default: VIDEO.mouth.png)")
    parser.add_argument("--every", type=int, default=3, help="one tile every N frames")
    parser.add_argument("--first", type=int, default=0, help="first frame on the sheet")
    parser.add_argument("--tiles", type=int, default=24, help="most tiles on the sheet")
    parser.add_argument("--columns", type=int, default=8)
    parser.add_argument("--tile", type=int, default=240, help="tile width in pixels")
    args = parser.parse_args(argv)

    looks, (tiles,) = look_at(args.video, [TilePick(args.first, args.every, args.tiles)])
    if not looks:
        print("no face found in the video", file=sys.stderr)
        return 1
    sheet_path = args.sheet or args.video.with_suffix(".mouth.png")
    write_sheet(sheet_path, tiles, args.columns, args.tile)
    print(f"{args.video}: sheet {sheet_path}")
    for line in summarize(looks).lines():
        print("  " + line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
