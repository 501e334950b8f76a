"""The command-line client: submit a job, follow its progress, download the result.

    lipsync submit image --image face.png --audio speech.mp3 -o out.mp4 [--server URL] [--key KEY]
    lipsync submit video --video talk.mp4 --audio dub.wav -o out.mp4
    lipsync submit multi --image two.png --left-audio a.wav --right-audio b.wav --order left_right

(`python -m lipsync_client submit ...` where only this package is installed.) `--server` and
`--key` default to LIPSYNC_BASE_URL and LIPSYNC_API_KEY. Inputs are local paths (uploaded) or
http(s) URLs. Exit status: 0 with the MP4 written, 1 when the job failed or the API refused
(its message on stderr), 2 for a bad command line.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from lipsync_client._client import Client
from lipsync_client._errors import LipsyncError
from lipsync_client._models import Job

PROG = "lipsync"


def add_submit_arguments(submit: argparse.ArgumentParser) -> None:
    modes = submit.add_subparsers(dest="mode", required=True)

    def common(mode: argparse.ArgumentParser) -> None:
        mode.add_argument("--resolution", choices=("480p", "720p"))
        mode.add_argument("--seed", type=int)
        mode.add_argument("--prompt")
        mode.add_argument("--webhook", help="an https URL to POST the finished job to")
        mode.add_argument("--idempotency-key", help="retrying with the same key makes no second job")
        mode.add_argument("-o", "--output", default="out.mp4", help="where to save the MP4 (out.mp4)")
        mode.add_argument("--server", help="the API's base URL (LIPSYNC_BASE_URL)")
        mode.add_argument("--key", help="an API key, sk_... (LIPSYNC_API_KEY)")
        mode.add_argument("--timeout", type=float, default=3600.0, help="seconds to wait (3600)")
        mode.add_argument("--no-wait", action="store_true", help="print the job id and exit")

    image = modes.add_parser("image", help="animate a portrait speaking an audio track")
    image.add_argument("--image", required=True)
    image.add_argument("--audio", required=True)
    image.add_argument("--mask-image")
    common(image)
    video = modes.add_parser("video", help="re-sync a video's lips to new audio")
    video.add_argument("--video", required=True)
    video.add_argument("--audio", required=True)
    video.add_argument("--mask-image")
    common(video)
    multi = modes.add_parser("multi", help="two people in one picture, two audio tracks")
    multi.add_argument("--image", required=True)
    multi.add_argument("--left-audio", required=True)
    multi.add_argument("--right-audio", required=True)
    multi.add_argument("--order", choices=("meanwhile", "left_right", "right_left"))
    common(multi)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Client of a lipsync server.")
    commands = parser.add_subparsers(dest="command", required=True)
    add_submit_arguments(commands.add_parser("submit", help="submit a job, follow it, download the MP4"))
    return parser


class ProgressBar:
    """A one-line bar on a terminal; one line per 10% otherwise (logs stay short)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.shown = -1

    def __call__(self, job: Job) -> None:
        fraction = max(0.0, min(1.0, job.progress))
        if self.tty:
            filled = int(fraction * 30)
            self.stream.write(f"\r{job.status:>10} [{'#' * filled}{'.' * (30 - filled)}] {fraction:4.0%}")
            if job.done:
                self.stream.write("\n")
        elif int(fraction * 10) > self.shown or job.done:
            self.shown = int(fraction * 10)
            self.stream.write(f"{job.status} {fraction:.0%}\n")
        self.stream.flush()


def run_submit(args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    common: dict[str, Any] = {"resolution": args.resolution, "seed": args.seed, "prompt": args.prompt,
                              "webhook": args.webhook, "idempotency_key": args.idempotency_key}
    try:
        with Client(base_url=args.server, api_key=args.key) as client:
            if args.mode == "image":
                job = client.lipsync_image(args.image, args.audio, mask_image=args.mask_image, **common)
            elif args.mode == "video":
                job = client.lipsync_video(args.video, args.audio, mask_image=args.mask_image, **common)
            else:
                job = client.lipsync_image_multi(args.image, args.left_audio, args.right_audio,
                                                 order=args.order, **common)
            print(f"job {job.id}", file=err)
            if args.no_wait:
                print(job.id, file=out)
                return 0
            job = client.wait(job.id, on_progress=ProgressBar(err), timeout=args.timeout)
            if job.status != "completed":
                print(f"{PROG}: error: {job.error or 'the job ' + job.status}", file=err)
                return 1
            path = client.download(job, args.output)
    except LipsyncError as exc:
        print(f"{PROG}: error: {exc}", file=err)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=err)
        return 130
    print(path, file=out)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return run_submit(args)


if __name__ == "__main__":
    sys.exit(main())
