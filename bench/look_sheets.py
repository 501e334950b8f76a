"""The README's "How the mouth looks": re-render its five 720p clips, redraw their "after"
contact sheets and print their row of look measures.

    .venv/bin/python bench/look_sheets.py [--out bench-out/look] [--sheets docs/look]

The sheets in docs/look and the table's "after" figures were drawn by throwaway scripts (see
fac6ae9 and a644ca6); this is their recipe in one command, so they can be redrawn after a
change to the renderer and checked against the README. Every clip is driven by the true
phonemes (`bench/sync.py`'s `truth_source`, the renderer's upper bound, so the mouth model does
not move the figures) and speaks "Maybe the people in the boat will bring apples back home."
(espeak-ng en-us, seed 5):
- image renders of both sample faces;
- dubs of a talking source: each face's own image render of "Patrick paid a big price, but the
  map of the bay was worth it." (en-us+m3, seed 7);
- a dub of the astronaut photo as a still video (3 s), where her real teeth show.

Each video's mouth is measured with the face mesh (services/engine/measures/look_measures.py)
and drawn as `bench/look.py` draws it: every 3rd frame from the first, 16 tiles of 180 pixels
in rows of 8; the two close-ups 4 tiles of 360 pixels from an opening. Renders and inputs go
to `--out`, the JPEG sheets (named as in docs/look) to `--sheets`; the table (markdown, the
README's columns) to stdout.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import look  # bench/look.py, beside this script
import sync  # bench/sync.py, beside this script

from services.devtools import samples
from services.engine.measures.look_measures import LookSummary, summarize
from services.engine.media import av_io as media
from services.engine.render import renderer as render

RESOLUTION = "720p"
SENTENCE = "Maybe the people in the boat will bring apples back home."
SEED = 5
SOURCE_SENTENCE = "Patrick paid a big price, but the map of the bay was worth it."
SOURCE_VOICE = "en-us+m3"
SOURCE_SEED = 7
PHOTO_FRAMES = 75  # the still video of the astronaut photo: 3 s at 25 fps
FACES = {"astronaut": samples.astronaut, "grace": samples.grace_hopper}


FULL_SHEET = look.TilePick(tiles=16)  # every 3rd frame from the first, 16 tiles


@dataclass(frozen=True)
class Sheet:
    """A contact sheet of one render, with bench/look.py's options."""

    name: str  # file name under --sheets
    pick: look.TilePick = FULL_SHEET
    columns: int = 8
    tile: int = 180


@dataclass(frozen=True)
class Clip:
    """One render of the README's table: its video's stem, its row label and its sheets."""

    stem: str
    label: str
    sheets: tuple[Sheet, ...]


CLIPS = (
    Clip("image-astronaut", "image, astronaut", (
        Sheet("image-720p-astronaut-after.jpg"),
        Sheet("image-720p-astronaut-after-closeup.jpg", look.TilePick(9, 6, 4), columns=4, tile=360))),
    Clip("image-grace", "image, Grace Hopper", (
        Sheet("image-720p-grace-after.jpg"),
        Sheet("image-720p-grace-after-closeup.jpg", look.TilePick(57, 3, 4), columns=4, tile=360))),
    Clip("video-astronaut", "video, astronaut", (Sheet("video-720p-astronaut-after.jpg"),)),
    Clip("video-grace", "video, Grace Hopper", (Sheet("video-720p-grace-after.jpg"),)),
    Clip("video-astronaut-photo", "video of the astronaut photo",
         (Sheet("video-720p-astronaut-photo-after.jpg"),)),
)


def still_video(picture: np.ndarray, path: Path, frames: int = PHOTO_FRAMES) -> Path:
    """`picture` scaled to the render's resolution, repeated as a silent MP4."""
    size = media.output_size(picture.shape[1], picture.shape[0], RESOLUTION)
    scaled = cv2.resize(picture, size, interpolation=cv2.INTER_CUBIC)
    with media.Mp4Writer(path, size) as writer:
        for _ in range(frames):
            writer.write(scaled)
    return path


def render_clips(out: Path) -> dict[str, Path]:
    """Every render of CLIPS into `out`, by stem (in the order the original scripts made them)."""
    wav, other_wav = out / "speech.wav", out / "other.wav"
    speech = samples.save_speech(wav, SENTENCE)
    other = samples.save_speech(other_wav, SOURCE_SENTENCE, voice=SOURCE_VOICE)
    videos: dict[str, Path] = {}
    for face, picture in FACES.items():
        image = samples.save_image(out / f"{face}.png", picture())
        videos[f"image-{face}"] = out / f"image-{face}.mp4"
        render.render_image(image, wav, videos[f"image-{face}"], resolution=RESOLUTION, seed=SEED,
                            shapes_from=sync.truth_source(speech))
        source = out / f"source-{face}.mp4"
        render.render_image(image, other_wav, source, resolution=RESOLUTION, seed=SOURCE_SEED,
                            shapes_from=sync.truth_source(other))
        videos[f"video-{face}"] = out / f"video-{face}.mp4"
        render.render_video(source, wav, videos[f"video-{face}"], resolution=RESOLUTION, seed=SEED,
                            shapes_from=sync.truth_source(speech))
    photo = still_video(samples.astronaut(), out / "photo.mp4")
    videos["video-astronaut-photo"] = out / "video-astronaut-photo.mp4"
    render.render_video(photo, wav, videos["video-astronaut-photo"], resolution=RESOLUTION, seed=SEED,
                        shapes_from=sync.truth_source(speech))
    return videos


def measure(video: Path, sheets: tuple[Sheet, ...]) -> tuple[LookSummary, list[list[tuple[int, np.ndarray]]]]:
    """The look measures of `video` and each sheet's tiles, as bench/look.py takes them."""
    looks, tiles = look.look_at(video, [sheet.pick for sheet in sheets])
    if not looks:
        raise SystemExit(f"{video}: no face found")
    return summarize(looks), tiles


def table_row(label: str, summary: LookSummary) -> str:
    return f"| {label} | {summary.bright:+.1f} | {summary.black:.3f} | {summary.jaw_ratio:.2f} |"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("bench-out/look"), help="renders and inputs")
    parser.add_argument("--sheets", type=Path, default=None, help="where the sheets go (default: --out)")
    args = parser.parse_args(argv)
    sheets_dir = args.sheets or args.out
    args.out.mkdir(parents=True, exist_ok=True)
    sheets_dir.mkdir(parents=True, exist_ok=True)

    started = time.perf_counter()
    videos = render_clips(args.out)
    rendered = time.perf_counter()
    rows = []
    for clip in CLIPS:
        summary, tiles = measure(videos[clip.stem], clip.sheets)
        for sheet, taken in zip(clip.sheets, tiles, strict=True):
            look.write_sheet(sheets_dir / sheet.name, taken, sheet.columns, sheet.tile)
        print(f"{clip.stem}: " + "; ".join(summary.lines()), file=sys.stderr)
        rows.append(table_row(clip.label, summary))
    done = time.perf_counter()
    print("| render (720p) | brightest 15% minus cheek L* | near-black share | jawline edge open / closed |")
    print("| --- | --- | --- | --- |")
    print("\n".join(rows))
    print(f"renders {rendered - started:.0f} s, measures and sheets {done - rendered:.0f} s; "
          f"sheets in {sheets_dir}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
