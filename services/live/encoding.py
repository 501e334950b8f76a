"""A session's own VP8 and Opus encoders, run in its worker thread right after the frame is
drawn; the outgoing tracks hand aiortc the packets, which it only splits into RTP.

Why not let aiortc encode: it encodes each frame and each 20 ms of audio as it sends it, in a
thread of its own (three thread hand-offs per frame besides the drawing's), with settings it
fixes, made for a camera. Three of them are changed here:

- `noise-sensitivity` 0 (aiortc: 4): libvpx's temporal denoiser runs on every frame for a
  sensor's noise; a drawn portrait has none (the background is the same pixels every frame),
  and the denoiser smears the moving mouth a little.
- `cpu-used` -10 (aiortc: -6): a faster motion search.
- `static-thresh` 500 (aiortc: 1): a macroblock whose prediction from the last frame is within
  that squared error (about 1.4 levels RMS over its 16 x 16 pixels) is not coded again. Nearly
  all of a portrait is such blocks: only the head moves, and the background would otherwise be
  refined frame after frame with bits nobody sees.

Measured on the astronaut portrait speaking and idling (480p, 500 frames, each decoded and
compared with what was drawn; same run): aiortc's settings 2.2 ms of CPU a frame, 497 kbps,
PSNR 36.3 dB over the frame, 37.6 dB over the head block, 38.3 dB over the mouth; these
0.7-0.8 ms, 311 kbps, 36.3 / 39.0 / 39.6 dB. (`noise-sensitivity` and `cpu-used` alone:
1.3 ms, 490 kbps, 36.5 / 39.3 / 39.7 dB.) Everything else is aiortc's: CBR at the receiver's
estimate (REMB, 250 kbps-1.5 Mbps, 500 kbps to start), a keyframe at the start and whenever the
receiver asks (PLI/FIR). `bench/live.py` measures the encode.

A new rate needs a new codec (libvpx under FFmpeg does not take one mid-stream), so a keyframe.
aiortc opens one whenever the estimate moves by 10%, and a receiver's estimate climbs about 12%
every 1.5 s from what it receives: a keyframe (8-9 ms to encode at 480p, a burst of packets)
every 1.5 s for the first 20 s of a session. A portrait sends what its content needs (about
320 kbps at 480p whether allowed 0.5 or 1.5 Mbps), so here a new estimate opens a new codec
only when it would change what is sent: a lower one under the last second's output (the
network cannot carry it), a higher one while the output is held near the codec's rate.

Audio: the timeline is mono, so Opus encodes mono (aiortc upmixes to stereo at 96 kbps) at
64 kbps, `voip` as aiortc, 20 ms a packet: 0.12 ms a packet instead of 0.2 ms, and on espeak
speech the decoded waveform is as close to the input as aiortc's (12 dB SNR against 9 dB).

The receiver's requests arrive as RTCP at the sender; `watch_requests` passes them on to the
encoder (aiortc would apply them to an encoder of its own that, with packets given, never runs).
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Awaitable, Callable
from fractions import Fraction
from typing import Any

import av
import numpy as np
from aiortc import RTCRtpSender
from aiortc.codecs.vpx import DEFAULT_BITRATE, MAX_BITRATE, MIN_BITRATE, number_of_threads
from aiortc.rtp import RTCP_PSFB_APP, RTCP_PSFB_FIR, RTCP_PSFB_PLI, RtcpPsfbPacket, unpack_remb_fci

from services.live.tracks import AUDIO_RATE, VIDEO_CLOCK

OPUS_BITRATE = 64_000
RATE_WINDOW = 25  # frames of output the actual bitrate is taken over (a second)
VP8_OPTIONS = {
    # aiortc's (codecs/vpx.py), but for three (see above): no denoiser, a faster search, and
    # blocks that did not change are not coded again.
    "cpu-used": "-10",
    "noise-sensitivity": "0",
    "deadline": "realtime",
    "lag-in-frames": "0",
    "overshoot-pct": "15",
    "partitions": "0",
    "static-thresh": "500",
    "undershoot-pct": "100",
}


class VideoEncoder:
    """I420 frames -> VP8 packets stamped on the 90 kHz clock. Used from one thread at a time;
    `request_keyframe` and `target_bitrate` may be set from another (they are read per frame)."""

    def __init__(self) -> None:
        self._codec: Any = None
        self._size = (0, 0)
        self._bitrate = DEFAULT_BITRATE  # the codec's
        self.target_bitrate = DEFAULT_BITRATE
        self.keyframe_wanted = False
        self._sizes: deque[int] = deque(maxlen=RATE_WINDOW)  # bytes of the last inter frames

    def request_keyframe(self) -> None:
        self.keyframe_wanted = True

    def set_target_bitrate(self, bitrate: int) -> None:
        self.target_bitrate = max(MIN_BITRATE, min(bitrate, MAX_BITRATE))

    def encode(self, i420: np.ndarray, t: int, fps: int) -> list[av.Packet]:
        """Frame t (planar I420, [h * 3 / 2, w]); the array is copied, so it may be reused."""
        height, width = i420.shape[0] * 2 // 3, i420.shape[1]
        # As aiortc: a new codec (so a keyframe) when the size or the bitrate (by > 10%) changes.
        if self._codec is None or (width, height) != self._size or self._rate_binds(fps):
            self._open(width, height)
        frame = av.VideoFrame(width, height, "yuv420p")
        # The planes copied in by numpy: a fifth of `VideoFrame.from_ndarray`'s cost.
        flat = i420.reshape(-1)
        start = 0
        for plane, plane_width in zip(frame.planes, (width, width // 2, width // 2), strict=True):
            rows = np.frombuffer(memoryview(plane), np.uint8).reshape(-1, plane.line_size)
            end = start + rows.shape[0] * plane_width
            rows[:, :plane_width] = flat[start:end].reshape(-1, plane_width)
            start = end
        frame.pts = t * (VIDEO_CLOCK // fps)
        frame.time_base = Fraction(1, VIDEO_CLOCK)
        if self.keyframe_wanted:
            self.keyframe_wanted = False
            frame.pict_type = av.video.frame.PictureType.I
        packets = list(self._codec.encode(frame))
        for packet in packets:
            packet.time_base = Fraction(1, VIDEO_CLOCK)
        if packets and not any(packet.is_keyframe for packet in packets):
            self._sizes.append(sum(packet.size for packet in packets))  # keyframes are one-offs
        return packets

    def _rate_binds(self, fps: int) -> bool:
        """Whether the receiver's estimate should get a codec of its own (see above)."""
        target, current = self.target_bitrate, self._bitrate
        if abs(target - current) / current <= 0.1:
            return False
        if len(self._sizes) < RATE_WINDOW:
            return True  # no second of output yet: follow the estimate, as aiortc
        sent = 8 * sum(self._sizes) * fps / len(self._sizes)
        return target < sent if target < current else sent >= 0.9 * current

    def _open(self, width: int, height: int) -> None:
        codec: Any = av.CodecContext.create("libvpx", "w")
        codec.width, codec.height = width, height
        codec.pix_fmt = "yuv420p"
        codec.time_base = Fraction(1, VIDEO_CLOCK)
        bitrate = self.target_bitrate
        codec.bit_rate = bitrate
        codec.gop_size = 3000  # kf_max_dist
        codec.qmin, codec.qmax = 2, 56
        # minrate = maxrate = bit_rate: CBR; bufsize so that libvpx's rc_buf_sz is 1000 ms.
        codec.options = {**VP8_OPTIONS, "bufsize": str(bitrate), "minrate": str(bitrate),
                         "maxrate": str(bitrate)}
        codec.thread_count = number_of_threads(width * height, multiprocessing.cpu_count())
        self._codec, self._size, self._bitrate = codec, (width, height), bitrate
        self._sizes.clear()


class AudioEncoder:
    """Mono float samples at 48 kHz, 20 ms at a time -> Opus packets stamped with their place
    on the timeline."""

    def __init__(self) -> None:
        codec: Any = av.CodecContext.create("libopus", "w")
        codec.format = "s16"
        codec.layout = "mono"
        codec.sample_rate = AUDIO_RATE
        codec.bit_rate = OPUS_BITRATE
        codec.time_base = Fraction(1, AUDIO_RATE)
        codec.options = {"application": "voip"}
        self._codec = codec

    def encode(self, samples: np.ndarray, first_sample: int) -> list[av.Packet]:
        pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype(np.int16)[None]
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = AUDIO_RATE
        frame.pts = first_sample
        frame.time_base = Fraction(1, AUDIO_RATE)
        packets = list(self._codec.encode(frame))
        # libopus stamps its packets 312 samples (its look-ahead) early: the timeline's place.
        for packet in packets:
            packet.pts = first_sample
            packet.time_base = Fraction(1, AUDIO_RATE)
        return packets


def watch_requests(sender: RTCRtpSender, encoder: VideoEncoder) -> None:
    """Pass the receiver's keyframe requests (PLI, FIR) and bitrate estimates (REMB) for this
    sender's stream to `encoder`, then let aiortc handle the packet as before."""
    handle: Callable[[Any], Awaitable[None]] = sender._handle_rtcp_packet

    async def handle_rtcp(packet: Any) -> None:
        if isinstance(packet, RtcpPsfbPacket):
            if packet.fmt in (RTCP_PSFB_PLI, RTCP_PSFB_FIR):
                encoder.request_keyframe()
            elif packet.fmt == RTCP_PSFB_APP:
                try:
                    bitrate, ssrcs = unpack_remb_fci(packet.fci)
                except ValueError:
                    pass
                else:
                    if sender._ssrc in ssrcs:
                        encoder.set_target_bitrate(bitrate)
        await handle(packet)

    sender._handle_rtcp_packet = handle_rtcp  # type: ignore[method-assign]
