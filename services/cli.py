"""`lipsync ...`: the command line.

Heavy modules (PyAV, OpenCV, ONNX Runtime, torch) are imported inside the commands that use
them, so `lipsync --help` and argument errors answer at once.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

RESOLUTIONS = ("480p", "720p")
ORDERS = ("meanwhile", "left_right", "right_left")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lipsync", description="Self-hostable lip-sync video.")
    commands = parser.add_subparsers(dest="command", required=True)

    render = commands.add_parser("render", help="render a lip-synced video locally")
    modes = render.add_subparsers(dest="mode", required=True)

    def common(p: argparse.ArgumentParser, mask: bool = True) -> None:
        p.add_argument("--resolution", choices=RESOLUTIONS, default="480p")
        if mask:
            p.add_argument("--mask-image", help="white = the area to animate (path or URL)")
        p.add_argument("--seed", type=int, default=None, help="same seed, same video (-1: random)")
        p.add_argument("-o", "--output", required=True, help="where to write the MP4")

    image = modes.add_parser("image", help="animate a portrait speaking an audio track")
    image.add_argument("--image", required=True, help="portrait: PNG/JPEG/WebP path or URL")
    image.add_argument("--audio", required=True, help="speech: path or URL")
    common(image)

    video = modes.add_parser("video", help="re-sync a video's lips to new audio")
    video.add_argument("--video", required=True, help="source video: path or URL")
    video.add_argument("--audio", required=True, help="new speech: path or URL")
    common(video)

    multi = modes.add_parser("multi", help="two people in one picture, two audio tracks")
    multi.add_argument("--image", required=True, help="picture of two people side by side")
    multi.add_argument("--left-audio", required=True, help="what the left person says")
    multi.add_argument("--right-audio", required=True, help="what the right person says")
    multi.add_argument("--order", choices=ORDERS, default="meanwhile")
    common(multi, mask=False)

    train = commands.add_parser("train", help="train the audio -> mouth-shape model")
    train.add_argument("args", nargs=argparse.REMAINDER, help="passed to the trainer")

    commands.add_parser("fetch-models", help="fetch the face model files from their wheel")
    return parser


class _ProgressBar:
    """A one-line bar on a terminal; silent when stderr is not one."""

    def __init__(self) -> None:
        self.enabled = sys.stderr.isatty()

    def __call__(self, fraction: float, stage: str) -> None:
        if not self.enabled:
            return
        filled = int(fraction * 30)
        sys.stderr.write(f"\r{stage:>8} [{'#' * filled}{'.' * (30 - filled)}] {fraction:4.0%}")
        if fraction >= 1.0:
            sys.stderr.write("\n")
        sys.stderr.flush()


def _local(source: str, workdir: Path, name: str) -> str:
    """A local path for `source`, downloading http(s) URLs first."""
    if source.startswith(("http://", "https://")):
        from services.fetch import download

        return str(download(source, workdir / name))
    if not Path(source).is_file():
        raise FileNotFoundError(f"{source}: no such file")
    return source


def _optional(source: str | None, workdir: Path) -> str | None:
    return None if source is None else _local(source, workdir, "mask")


def _render(args: argparse.Namespace) -> int:
    from services.engine import render

    bar = _ProgressBar()
    with tempfile.TemporaryDirectory(prefix="lipsync-cli-") as tmp:
        work = Path(tmp)
        if args.mode == "image":
            result = render.render_image(
                _local(args.image, work, "image"), _local(args.audio, work, "audio"), args.output,
                resolution=args.resolution, mask_image=_optional(args.mask_image, work),
                seed=args.seed, progress=bar)
        elif args.mode == "video":
            result = render.render_video(
                _local(args.video, work, "video"), _local(args.audio, work, "audio"), args.output,
                resolution=args.resolution, mask_image=_optional(args.mask_image, work),
                seed=args.seed, progress=bar)
        else:
            result = render.render_multi(
                _local(args.image, work, "image"), _local(args.left_audio, work, "left"),
                _local(args.right_audio, work, "right"), args.output, order=args.order,
                resolution=args.resolution, seed=args.seed, progress=bar)
    stages = ", ".join(f"{k} {v:.0f} ms" for k, v in result.timings.items())
    print(f"wrote {result.path} ({result.seconds:.2f} s, {result.frames} frames, seed {result.seed}; "
          f"{stages})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "render":
            return _render(args)
        if args.command == "train":
            from services.engine.training import train

            train.main(args.args)
            return 0
        if args.command == "fetch-models":
            from services.engine.assets import fetch_face_models

            print(fetch_face_models())
            return 0
    except KeyboardInterrupt:
        print("lipsync: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        from services.engine.errors import EngineError

        known = isinstance(exc, EngineError | FileNotFoundError | ValueError | OSError)
        message = str(exc) if known else f"{exc.__class__.__name__}: {exc}"
        print(f"lipsync: error: {message}", file=sys.stderr)
        return 2 if known else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
