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

from services.core.vocabulary import DEFAULT_RESOLUTION, Order, Resolution

RESOLUTIONS = tuple(r.value for r in Resolution)
ORDERS = tuple(o.value for o in Order)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lipsync", description="Self-hostable lip-sync video.")
    commands = parser.add_subparsers(dest="command", required=True)

    render = commands.add_parser("render", help="render a lip-synced video locally")
    modes = render.add_subparsers(dest="mode", required=True)

    def common(p: argparse.ArgumentParser, mask: bool = True) -> None:
        p.add_argument("--resolution", choices=RESOLUTIONS, default=DEFAULT_RESOLUTION.value)
        if mask:
            p.add_argument("--mask-image", help="white = the area to animate (path or URL)")
        p.add_argument("--seed", type=int, default=None, help="same seed, same video (-1: random)")
        p.add_argument("--prompt", default="", help="style words, e.g. 'smiling, very expressive' "
                       "(README: Style from the prompt)")
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
    multi.add_argument("--order", choices=ORDERS, default=Order.MEANWHILE.value)
    common(multi, mask=False)

    train = commands.add_parser("train", help="train the audio -> mouth-shape model")
    train.add_argument("args", nargs=argparse.REMAINDER, help="passed to the trainer")

    submit = commands.add_parser(
        "submit", add_help=False,
        help="submit a job to a lipsync server, follow its progress, download the MP4 "
             "(image|video|multi; --server, --key; the lipsync-client package)")
    submit.add_argument("args", nargs=argparse.REMAINDER, help="see `lipsync submit image -h`")

    commands.add_parser("fetch-models", help="fetch the face model files from their wheel")

    export = commands.add_parser(
        "export-generator",
        help="export an operator's Wav2Lip-class checkpoint to ONNX + Triton configs",
        description="Export a Wav2Lip-class generator checkpoint you supply to ONNX "
                    "(<out>/wav2lip/1/model.onnx) with its Triton configs. Nothing in this "
                    "repository ships or downloads weights; here the path is tested only with "
                    "random weights, whose output is noise. Use it with LIPSYNC_GENERATOR=wav2lip.")
    source = export.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", type=Path,
                        help="a torch state dict (optionally under \"state_dict\", optionally "
                             "with \"module.\" prefixes)")
    source.add_argument("--random-weights", action="store_true",
                        help="export a randomly initialised network (noise: tests the plumbing only)")
    export.add_argument("--out", type=Path, default=None,
                        help="model repository to write into (default: triton_models/)")

    dev = commands.add_parser("dev", help="the whole stack in one process, on embedded defaults")
    dev.add_argument("--port", type=int, default=8080)
    dev.add_argument("--data-dir", type=Path, default=None,
                     help="where Redis, outputs and uploads live (default: LIPSYNC_DATA_DIR, "
                          "else ./data)")
    dev.add_argument("--triton", action="store_true",
                     help="start a Triton server on triton_models/ and run the models there "
                          "(else LIPSYNC_TRITON_URL, else in-process)")

    triton = commands.add_parser("triton", help="run a Triton Inference Server on triton_models/")
    triton.add_argument("--port", type=int, default=0, help="gRPC port (default: a free one)")
    triton.add_argument("--host", default="127.0.0.1", help="address to bind (0.0.0.0: all)")

    serve = commands.add_parser("serve", help="run one service (configured by LIPSYNC_* variables)")
    serve.add_argument("service", choices=("proxy", "jobs", "inference", "webhooks", "live"),
                       help="proxy: the public REST API (gRPC only, no Redis); jobs: JobService and "
                            "AdminService; inference: queue workers and InferenceService; webhooks: "
                            "the webhook dispatcher; live: live WebRTC sessions")

    keys = commands.add_parser("keys", help="API keys and credits (uses LIPSYNC_REDIS_URL)")
    key_commands = keys.add_subparsers(dest="keys_command", required=True)
    create = key_commands.add_parser("create", help="a new key (and account); printed once")
    create.add_argument("--name", required=True)
    create.add_argument("--credits", type=int, default=0)
    create.add_argument("--account", default="", help="add the key to this account instead")
    create.add_argument("--json", action="store_true")
    listing = key_commands.add_parser("list", help="every key (never the secrets)")
    listing.add_argument("--json", action="store_true")
    revoke = key_commands.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id")

    users = commands.add_parser("users", help="web console users (uses LIPSYNC_REDIS_URL)")
    user_commands = users.add_subparsers(dest="users_command", required=True)
    new_user = user_commands.add_parser("create", help="a console user with a new account")
    new_user.add_argument("--email", required=True)
    new_user.add_argument("--password-stdin", action="store_true", required=True,
                          help="read the password from the first line of stdin (never an argument: "
                               "arguments show in `ps` and shell history)")
    new_user.add_argument("--admin", action="store_true", help="may see every account and add credits")
    new_user.add_argument("--credits", type=int, default=0, help="the new account's credits")
    new_user.add_argument("--account", default="", help="sign in to this existing account instead")
    user_commands.add_parser("list", help="every console user")
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


def _local(source: str, workdir: Path, name: str, kind: str) -> str:
    """A local path for `source`, downloading http(s) URLs first. A local file that is plainly
    something else than `kind` (text, a web page, an image given as audio) is refused saying
    what it looks like, as fetched inputs are; an unknown format is left to the decoder."""
    if source.startswith(("http://", "https://")):
        from services.net.fetch import download

        return str(download(source, workdir / name))
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(f"{source}: no such file")
    from services.net import sniff

    with path.open("rb") as file:
        found = sniff.identify(file.read(sniff.HEAD_BYTES))
    if found is not sniff.UNKNOWN and kind not in found.kinds:
        raise ValueError(f"Invalid {kind} file: {source} is not {_NOUNS[kind]} (it looks like {found.label})")
    return source


_NOUNS = {"image": "an image", "audio": "an audio file", "video": "a video"}


def _optional(source: str | None, workdir: Path) -> str | None:
    return None if source is None else _local(source, workdir, "mask", "image")


def _render(args: argparse.Namespace) -> int:
    from functools import partial

    from services.core.settings import Settings
    from services.engine.generators import wav2lip_render
    from services.engine.render import renderer as render
    from services.engine.render.style import ALL_CONTROLS, VIDEO_CONTROLS, Style, parse_prompt
    from services.inference.rendering import frame_generator

    # LIPSYNC_GENERATOR=wav2lip: video and image through an operator's exported generator.
    generator = frame_generator(Settings.from_env())
    style = parse_prompt(args.prompt, VIDEO_CONTROLS if args.mode == "video" else ALL_CONTROLS)
    render_image = partial(render.render_image, style=style)
    render_video = partial(render.render_video, style=style)
    if generator is not None:
        if args.mode != "multi":  # an operator's generator draws the mouth itself: no style
            style = Style()
        render_image = partial(wav2lip_render.render_image, generator=generator)
        render_video = partial(wav2lip_render.render_video, generator=generator)
    bar = _ProgressBar()
    with tempfile.TemporaryDirectory(prefix="lipsync-cli-") as tmp:
        work = Path(tmp)
        if args.mode == "image":
            result = render_image(
                _local(args.image, work, "image", "image"), _local(args.audio, work, "audio", "audio"),
                args.output, resolution=args.resolution, mask_image=_optional(args.mask_image, work),
                seed=args.seed, progress=bar)
        elif args.mode == "video":
            result = render_video(
                _local(args.video, work, "video", "video"), _local(args.audio, work, "audio", "audio"),
                args.output,
                resolution=args.resolution, mask_image=_optional(args.mask_image, work),
                seed=args.seed, progress=bar)
        else:
            result = render.render_multi(
                _local(args.image, work, "image", "image"), _local(args.left_audio, work, "left", "audio"),
                _local(args.right_audio, work, "right", "audio"), args.output, order=args.order,
                resolution=args.resolution, seed=args.seed, progress=bar, style=style)
    if args.prompt.strip():
        words = ", ".join(style.words) or "none"
        print(f"style: expressiveness {style.expressiveness}, {style.emotion} "
              f"(strength {style.emotion_strength}), blink rate {style.blink_rate}, "
              f"{'still' if style.still else 'head moves'}; words used: {words}")
    stages = ", ".join(f"{k} {v:.0f} ms" for k, v in result.timings.items())
    print(f"wrote {result.path} ({result.seconds:.2f} s, {result.frames} frames, seed {result.seed}; "
          f"{stages})")
    return 0


def _export_generator(args: argparse.Namespace) -> int:
    from services.devtools.triton_server import TRITON_MODELS
    from services.engine.generators import export

    done = export.run(args.checkpoint, args.out or TRITON_MODELS, args.random_weights)
    print(f"wrote {done.onnx} (sha256 {done.sha256[:16]}..., |onnx - torch| <= "
          f"{done.max_abs_diff_vs_torch:.1e}) and {', '.join(str(c) for c in done.configs)}")
    if args.random_weights:
        print("note: random weights: the generator's output is noise (for testing the path only)")
    print("use it: LIPSYNC_GENERATOR=wav2lip (in-process, or on Triton with LIPSYNC_TRITON_URL)")
    return 0


def _serve(service: str) -> int:
    from services.cli.serve import run_event_loop, run_services
    from services.core import logs
    from services.core.metrics import serve_metrics
    from services.core.settings import Settings

    settings = Settings.from_env()
    logs.configure(json_lines=settings.log_format == "json")
    if service != "proxy":  # the proxy serves /metrics on its own port
        serve_metrics(settings.metrics_port)
    run_event_loop(run_services(settings, [service]))
    return 0


def _keys(args: argparse.Namespace) -> int:
    import asyncio
    import json

    from services.core.settings import Settings
    from services.store.accounts import AccountStore
    from services.store.connection import connect

    async def run() -> int:
        redis = connect(Settings.from_env().redis_url)
        store = AccountStore(redis)
        try:
            if args.keys_command == "create":
                new = await store.create_key(args.name, args.credits, args.account)
                if args.json:
                    print(json.dumps({"key_id": new.key_id, "api_key": new.api_key,
                                      "account_id": new.account_id,
                                      "webhook_secret": new.webhook_secret}))
                else:
                    print(f"API key:        {new.api_key}\n"
                          f"key id:         {new.key_id}\n"
                          f"account:        {new.account_id} ({await store.credits(new.account_id)}"
                          f" credits)\n"
                          f"webhook secret: {new.webhook_secret}\n"
                          "The key and secret are shown only now; only a hash of the key is kept.")
            elif args.keys_command == "list":
                found = await store.list_keys()
                if args.json:
                    print(json.dumps([k.__dict__ for k in found]))
                for k in [] if args.json else found:
                    state = "revoked" if k.revoked else "active"
                    print(f"{k.key_id}  {state:<7}  account {k.account_id}  {k.name}")
            else:
                info = await store.revoke(args.key_id)
                print(f"revoked {info.key_id} ({info.name})")
        finally:
            await redis.aclose()
        return 0

    return asyncio.run(run())


def _users(args: argparse.Namespace) -> int:
    from services.cli.users import run_users

    return run_users(args)


def _submit(argv: list[str]) -> int:
    """The REST client (clients/python, distribution lipsync-client) as `lipsync submit`."""
    try:
        from lipsync_client.cli import main as client_main
    except ImportError:
        raise ValueError("lipsync submit needs the client package: pip install ./clients/python") from None
    return client_main(["submit", *argv])


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "render":
            return _render(args)
        if args.command == "submit":
            return _submit(args.args)
        if args.command == "train":
            from services.engine.training import train

            train.main(args.args)
            return 0
        if args.command == "dev":
            from services.cli.dev import run_dev
            from services.core.settings import Settings

            env = Settings.from_env()
            # The flag wins over LIPSYNC_DATA_DIR, which wins over the default ./data.
            run_dev(args.port, args.data_dir or env.data_dir, env.triton_url, start_triton=args.triton)
            return 0
        if args.command == "triton":
            from services.devtools.triton_server import serve_triton

            return serve_triton(args.port, args.host)
        if args.command == "serve":
            return _serve(args.service)
        if args.command == "keys":
            return _keys(args)
        if args.command == "users":
            return _users(args)
        if args.command == "export-generator":
            return _export_generator(args)
        if args.command == "fetch-models":
            from services.engine.faces.assets import fetch_face_models

            print(fetch_face_models())
            return 0
    except KeyboardInterrupt:
        print("lipsync: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        from services.core.errors import ServiceError
        from services.engine.engine_errors import EngineError

        if isinstance(exc, ServiceError):
            exc = ValueError(exc.message)
        known = isinstance(exc, EngineError | FileNotFoundError | ValueError | OSError)
        message = str(exc) if known else f"{exc.__class__.__name__}: {exc}"
        print(f"lipsync: error: {message}", file=sys.stderr)
        return 2 if known else 1
    return 0


