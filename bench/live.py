"""Live sessions under load: N at once, each an aiortc client streaming real speech.

    .venv/bin/python bench/live.py [--sessions 1,2,3,4,5,6] [--seconds 20] [--resolution 480p]

Runs itself inside a loopback-only network namespace (`services.devtools.netns`; root), starts
the production processes (`ProcessStack(live=True)`), and for each N runs N sessions side by
side, each streaming espeak-ng speech with pauses for `--seconds`. Per N it prints:

- fps: video frames received per second by each client (min and mean over sessions), and the
  share of frames the server dropped to keep up with the audio clock;
- sound-to-mouth latency per stage as the server measured it (from a sound's arrival to its
  frame leaving: lookahead, compute, pacing, total; p50/p99, pooled over sessions) and end to end
  as the client saw it (a sound leaving the client to its frame arriving, decode included);
- the A/V offset: video minus audio as both arrive at the client, median per 5 s window
  (the first and last window, and the largest size);
- CPU: the live process's CPU time over the run, per session, in % of one core, and the same
  for the clients (this process);
- whether every session held 25 fps (at most 2% of frames dropped, 24.5 fps received).

The clients decode VP8 on the same cores as the server, so on a small machine the largest N is
a floor. So the clients spend those cores only on what they measure:

- each encodes its speech to Opus (aiortc's encoder, the same packets it would send live) when
  the session is made, and sends those packets on the wall clock as a microphone would;
- they do not decode the video (a viewer does that on its own device, and nothing here looks at
  the pictures): a frame counts as received when aiortc has all its packets, stamped with its
  RTP timestamp, as the decoder would have; `--decode-video` decodes them as before (end to end
  then includes the decode). `tests/integration/test_live.py` decodes every frame and checks
  the mouth on it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
from aiortc.mediastreams import MediaStreamError

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from services.devtools import live_client, netns, samples  # noqa: E402
from services.devtools.live_client import (  # noqa: E402
    FPS,
    PACKET,
    RATE,
    LiveClient,
    SpeechTrack,
    av_offset,
    locate,
    video_media_times,
)
from services.devtools.process_stack import ProcessStack  # noqa: E402
from services.engine.media import features, speech  # noqa: E402
from services.store.accounts import AccountStore  # noqa: E402
from services.store.connection import connect  # noqa: E402

INSIDE = "LIPSYNC_BENCH_IN_NETNS"
TEXTS = ("Maybe we should open the window, because the room is warm and bright.",
         "I will call you tomorrow morning about the plans for the weekend.",
         "Please bring the blue folder and the map of the old harbour.")
STAGES = ("lookahead", "compute", "pacing", "total")
ENCODED_TAIL = 10.0  # seconds of silence encoded after the speech (then its last packet repeats)


class FrameTimer:
    """Stands in for aiortc's VP8 decoder in the clients: a complete frame becomes a 2 x 2
    frame with the same timestamp, which is all the benchmark reads of it."""

    def decode(self, encoded: Any) -> list[av.VideoFrame]:
        frame = av.VideoFrame(2, 2, "yuv420p")
        frame.pts, frame.time_base = encoded.timestamp, Fraction(1, live_client.VIDEO_CLOCK)
        return [frame]


def time_frames_without_decoding() -> None:
    """Make this process's aiortc receivers hand over video frames undecoded (`FrameTimer`)."""
    from aiortc import rtcrtpreceiver

    decoder_for = rtcrtpreceiver.get_decoder

    def get_decoder(codec: Any) -> Any:
        return FrameTimer() if codec.mimeType.lower().startswith("video/") else decoder_for(codec)

    rtcrtpreceiver.get_decoder = get_decoder


class EncodedSpeechTrack(SpeechTrack):
    """`SpeechTrack` sending Opus packets encoded up front (aiortc's encoder, so the very
    packets it would have made on the fly): on the wall clock, recorded as sent the same way."""

    def __init__(self, speech: np.ndarray, lead_silence: float = 0.0) -> None:
        super().__init__(speech, lead_silence)
        from aiortc.codecs.opus import OpusEncoder

        encoder = OpusEncoder()
        pcm = np.concatenate([self.samples, np.zeros(int(ENCODED_TAIL * RATE), np.float32)])
        self._packets: list[bytes] = []
        for n in range(0, pcm.size - PACKET + 1, PACKET):
            frame = av.AudioFrame.from_ndarray((pcm[n : n + PACKET] * 32767).astype(np.int16)[None],
                                               format="s16", layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = RATE, n, Fraction(1, RATE)
            payloads, _ = encoder.encode(frame)
            self._packets += payloads

    async def recv(self) -> av.Packet:  # type: ignore[override]
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        wait = self._start + self._n / RATE - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        packet = av.Packet(self._packets[min(self._n // PACKET, len(self._packets) - 1)])
        packet.pts, packet.time_base = self._n, Fraction(1, RATE)
        self.sent.append((self._n, time.monotonic()))
        self._n += PACKET
        return packet


@dataclass
class SessionRun:
    fps: float
    dropped: int
    sent: int
    server: dict[str, float]
    e2e_ms: np.ndarray
    offsets: np.ndarray  # per 5 s window, ms


def speech_loop(seconds: float, seed: int) -> np.ndarray:
    """Utterances with a pause after each, repeated to `seconds` (48 kHz)."""
    parts = []
    for i, text in enumerate(TEXTS):
        u = speech.synthesize(text, pitch=40 + 10 * ((i + seed) % 3))
        parts += [features.resample(u.audio, u.sample_rate, RATE), np.zeros(int(0.8 * RATE), np.float32)]
    loop = np.concatenate(parts)
    reps = int(np.ceil(seconds * RATE / loop.size))
    return np.roll(np.tile(loop, reps), -seed * RATE // 3)[: int(seconds * RATE)]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def end_to_end(client: LiveClient) -> np.ndarray:
    """ms from the client sending the middle of frame k's audio to receiving frame k. The
    server's timeline may hold silence the client never sent (it pads when audio is late), so
    where the client's audio sits in it is found in the audio that came back."""
    assert client.track is not None
    got = client.received
    if not got.video_pts or not client.track.sent:
        return np.zeros(0)
    sent_at = np.asarray([t for _, t in client.track.sent])
    sent_sample = np.asarray([n for n, _ in client.track.sent])
    probe = client.track.samples[RATE : 4 * RATE]  # 3 s of what was sent, from its second 1
    # Looked for near the start only: the speech loops, so later repeats would match as well.
    start = got.audio_samples()[: 8 * RATE]
    shift = round(locate(probe, start) * RATE) - RATE  # timeline index - client index
    frame = np.round(video_media_times(got) * FPS).astype(int)
    middle = frame * (RATE // FPS) + RATE // FPS // 2 - shift
    idx = np.searchsorted(sent_sample, middle, side="right") - 1
    ok = (idx >= 0) & (idx < len(sent_at))
    # The packet left at sent_at; the middle of the frame is that far into it.
    left = sent_at[idx[ok]] + (middle[ok] - sent_sample[idx[ok]]) / RATE
    return 1000 * (np.asarray(got.video_arrivals)[ok] - left)


async def one_session(base: str, key: str, image: str, resolution: str, seconds: float,
                      seed: int) -> SessionRun:
    # Pre-encoded speech (see the module docstring).
    client = LiveClient(base, key, keep_frames=False, track_type=EncodedSpeechTrack)
    try:
        r = await client.http.post("/api/v1/live", json={"formState": {"image": image,
                                                                        "resolution": resolution}})
        r.raise_for_status()
        client.session = r.json()
        await client.connect(speech_loop(seconds + 2, seed))
        await asyncio.sleep(seconds)
        state = (await client.http.get(f"/api/v1/live/{client.session['id']}")).json()
        await client.end()
        got = client.received
        arrivals = np.asarray(got.video_arrivals)
        steady = arrivals[(arrivals > arrivals[0] + 2) & (arrivals < arrivals[-1] - 1)]
        fps = (len(steady) - 1) / (steady[-1] - steady[0]) if len(steady) > 2 else 0.0
        return SessionRun(fps, int(state["droppedFrames"]), len(got.video_pts), state["latencyMs"],
                          end_to_end(client)[50:], av_offset(got, window=5.0))
    finally:
        await client.close()


async def run_n(stack: ProcessStack, key: str, image: str, n: int, resolution: str,
                seconds: float) -> dict[str, Any]:
    pid = stack.pids()["live"]
    cpu0, mine0, wall0 = cpu_seconds(pid), time.process_time(), time.monotonic()
    runs = await asyncio.gather(*[one_session(stack.base_url, key, image, resolution, seconds, i)
                                  for i in range(n)])
    wall = time.monotonic() - wall0
    cpu, mine = (cpu_seconds(pid) - cpu0) / wall, (time.process_time() - mine0) / wall
    row: dict[str, Any] = {"sessions": n, "fps_min": min(r.fps for r in runs),
                           "fps_mean": float(np.mean([r.fps for r in runs])),
                           "dropped_pct": 100 * sum(r.dropped for r in runs)
                           / max(1, sum(r.dropped + r.sent for r in runs)),
                           "cpu_pct_per_session": 100 * cpu / n,
                           "client_cpu_pct_per_session": 100 * mine / n}
    for stage in STAGES:  # pooled: the mean of the sessions' percentiles
        for q in ("p50", "p99"):
            values = [r.server.get(f"{stage}_{q}") for r in runs]
            row[f"{stage}_{q}"] = float(np.mean([v for v in values if v is not None] or [np.nan]))
    e2e = np.concatenate([r.e2e_ms for r in runs])
    row["e2e_p50"], row["e2e_p99"] = (np.percentile(e2e, [50, 99]) if e2e.size else (np.nan, np.nan))
    offsets = [r.offsets for r in runs if r.offsets.size]
    row["av_first"] = float(np.mean([o[0] for o in offsets])) if offsets else np.nan
    row["av_last"] = float(np.mean([o[-1] for o in offsets])) if offsets else np.nan
    row["av_max"] = float(max(np.abs(o).max() for o in offsets)) if offsets else np.nan
    row["holds_25fps"] = bool(row["dropped_pct"] <= 2.0 and row["fps_min"] >= 24.5)
    return row


def vp8_encode_ms(face: Path, resolution: str, frames: int = 150) -> tuple[float, float]:
    """p50/p99 of a session's VP8 encode of live frames (`encoding.VideoEncoder`, inside
    `compute`), measured alone: the portrait speaking and idling as in a session."""
    from services.engine.mouth.mouth_track import rest_shapes
    from services.engine.render.streaming import LiveFace
    from services.engine.render.style import Style
    from services.live.encoding import VideoEncoder

    live = LiveFace.from_image(face, resolution, Style(), seed=1, frames=frames)
    encoder = VideoEncoder()
    rest = rest_shapes(1)[0]
    took = []
    for t in range(frames):
        shape = rest.copy()
        shape[0] = 0.5 + 0.5 * np.sin(t / 3)
        i420 = live.draw_i420(t, live.styled(shape))
        start = time.perf_counter()
        encoder.encode(i420, t, FPS)
        took.append(1000 * (time.perf_counter() - start))
    p50, p99 = np.percentile(took[10:], [50, 99])
    return float(p50), float(p99)


def table(rows: list[dict[str, Any]]) -> str:
    head = ("| N | fps min / mean | dropped | latency total p50 / p99 | lookahead p50 | "
            "compute p50 / p99 | pacing p50 | end to end p50 / p99 | A/V first / last / max | "
            "CPU per session | client CPU per session | 25 fps |")
    lines = [head, "|" + " --- |" * 12]
    for r in rows:
        lines.append(
            f"| {r['sessions']} | {r['fps_min']:.1f} / {r['fps_mean']:.1f} | {r['dropped_pct']:.1f}% | "
            f"{r['total_p50']:.0f} / {r['total_p99']:.0f} ms | {r['lookahead_p50']:.0f} ms | "
            f"{r['compute_p50']:.0f} / {r['compute_p99']:.0f} ms | {r['pacing_p50']:.0f} ms | "
            f"{r['e2e_p50']:.0f} / {r['e2e_p99']:.0f} ms | "
            f"{r['av_first']:+.0f} / {r['av_last']:+.0f} / {r['av_max']:.0f} ms | "
            f"{r['cpu_pct_per_session']:.0f}% | {r['client_cpu_pct_per_session']:.0f}% | "
            f"{'yes' if r['holds_25fps'] else 'no'} |")
    return "\n".join(lines)


async def bench(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    env = {"LIPSYNC_LIVE_MAX_SESSIONS": "0", "LIPSYNC_MAX_CONCURRENT_SESSIONS": "0",
           "LIPSYNC_ALLOW_PRIVATE_URLS": "1", "LIPSYNC_LOG_FORMAT": "text"}
    with tempfile.TemporaryDirectory(prefix="lipsync-bench-live-") as tmp, \
            ProcessStack(Path(tmp), env=env, live=True) as stack:
        redis = connect(stack.redis_url)
        key = (await AccountStore(redis).create_key("bench", credits=10_000_000)).api_key
        await redis.aclose()
        face = samples.save_image(Path(tmp) / "face.png", samples.astronaut())
        encode = vp8_encode_ms(face, args.resolution)
        print(f"VP8 encode of a {args.resolution} frame (alone): p50 {encode[0]:.1f} ms, "
              f"p99 {encode[1]:.1f} ms", flush=True)
        async with httpx.AsyncClient(base_url=stack.base_url, timeout=60) as http:
            image = (await http.post("/api/v1/files", content=face.read_bytes(),
                                     headers={"Authorization": f"Bearer {key}"})).json()["url"]
        for n in args.sessions:
            row = await run_n(stack, key, image, n, args.resolution, args.seconds)
            rows.append(row)
            print(f"N={n}: fps min {row['fps_min']:.1f}, dropped {row['dropped_pct']:.1f}%, "
                  f"latency p50 {row['total_p50']:.0f} ms, CPU/session {row['cpu_pct_per_session']:.0f}% "
                  f"(clients {row['client_cpu_pct_per_session']:.0f}%)",
                  flush=True)
            if not row["holds_25fps"] and not args.keep_going:
                break
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=lambda s: [int(x) for x in s.split(",")],
                        default=[1, 2, 3, 4, 5, 6])
    parser.add_argument("--seconds", type=float, default=20.0, help="streaming time per session")
    parser.add_argument("--resolution", choices=("480p", "720p"), default="480p")
    parser.add_argument("--keep-going", action="store_true", help="go on past the first N that fails")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    parser.add_argument("--decode-video", action="store_true",
                        help="the clients decode the VP8 they receive (on the same cores)")
    args = parser.parse_args()
    if os.environ.get(INSIDE) != "1":
        problem = netns.unavailable()
        if problem:
            print(f"bench/live.py needs a network namespace: {problem}", file=sys.stderr)
            return 2
        return subprocess.call(netns.loopback_only([sys.executable, *sys.argv]),
                               env={**os.environ, INSIDE: "1"})
    if not args.decode_video:
        time_frames_without_decoding()
    rows = asyncio.run(bench(args))
    print()
    print(table(rows))
    holding = [r["sessions"] for r in rows if r["holds_25fps"]]
    print(f"\nlargest N holding 25 fps at {args.resolution}: {max(holding) if holding else 0} "
          f"({os.cpu_count()} cores, shared with the clients)")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
