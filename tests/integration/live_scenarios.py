"""The live scenarios, run inside a loopback-only network namespace by `test_live.py`.

    unshare -n ... python -m tests.integration.live_scenarios OUT.json

Starts the production processes (`ProcessStack(live=True)`: Redis, jobs, webhooks, inference,
live, proxy) on loopback, runs every scenario against the public REST/WHIP API with a real
aiortc client and writes what each observed to OUT.json for the test to judge (a failure here
becomes the scenario's "error", so one broken scenario does not hide the others).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
import httpx
import numpy as np
from aiortc import RTCPeerConnection, RTCSessionDescription

from protos.lipsync.v1 import live_pb2, live_pb2_grpc
from services.devtools import samples
from services.devtools.live_client import LiveClient, av_offset, sync_lag
from services.devtools.process_stack import ProcessStack, terminate, wait_for_port
from services.devtools.redis_server import free_port
from services.engine.measures.sync_measure import frame_openings
from services.engine.media import features, speech
from services.engine.mouth import visemes
from services.store.accounts import AccountStore
from services.store.connection import connect

SETTINGS = {
    "LIPSYNC_ALLOW_PRIVATE_URLS": "1",
    "LIPSYNC_LIVE_CONNECT_SECONDS": "4",
    "LIPSYNC_LIVE_IDLE_SECONDS": "4",
    "LIPSYNC_LIVE_MAX_SECONDS": "9",
    "LIPSYNC_MAX_CONCURRENT_SESSIONS": "2",
    "LIPSYNC_LIVE_MAX_SESSIONS": "6",
}
TEXT = "Maybe we should open the window, because the room is warm and bright."


async def keys(redis_url: str) -> dict[str, str]:
    redis = connect(redis_url)
    try:
        store = AccountStore(redis)
        return {"rich": (await store.create_key("rich", credits=100_000)).api_key,
                "other": (await store.create_key("other", credits=100_000)).api_key,
                "poor": (await store.create_key("poor", credits=9)).api_key,
                "twelve": (await store.create_key("twelve", credits=12)).api_key}
    finally:
        await redis.aclose()


def speech48k() -> tuple[np.ndarray, speech.Utterance]:
    utterance = speech.synthesize(TEXT)
    return features.resample(utterance.audio, utterance.sample_rate, 48_000), utterance


async def sync(base: str, key: dict[str, str], image: str) -> dict[str, Any]:
    """The key scenario: speech in, video back, the mouth follows the speech heard with it."""
    audio, utterance = speech48k()
    client = LiveClient(base, key["rich"])
    try:
        created = await client.create(image)
        started = time.monotonic()
        await client.connect(audio, lead_silence=1.0)
        total = int((1.0 + utterance.duration + 1.5) * 25)
        await client.wait_frames(total, timeout=40)
        elapsed = time.monotonic() - started
        state = (await client.http.get(f"/api/v1/live/{created['id']}")).json()
        ended = await client.end()
        after = (await client.http.get(f"/api/v1/live/{created['id']}")).json()
        got = client.received
        opening = frame_openings(got.frames)[:, 0]
        truth = visemes.openness_track(utterance.phonemes, utterance.duration)
        lag, r = sync_lag(opening, truth, got, audio)
        # The mouth after the speech stopped: frames that show the silence after it.
        speech_end = 1.0 + utterance.duration
        v_media = (np.asarray(got.video_pts) - got.video_pts[0]) / 90_000
        shift = av_offset(got)[0] / 1000
        quiet = opening[(v_media > speech_end + 0.08 - shift) & (v_media < speech_end + 1.0 - shift)]
        speaking = opening[(v_media > 1.0 - shift) & (v_media < speech_end - shift)]
        rest = opening[(v_media > 0.2 - shift) & (v_media < 0.95 - shift)]  # before the speech
        return {"created": created, "state": state, "ended": ended, "after": after,
                "frames": len(got.video_pts), "elapsed": elapsed, "audio_packets": len(got.audio),
                "lag": lag, "r": r, "av_offset_ms": float(av_offset(got)[0]),
                "size": list(got.frames[0].shape) if got.frames else [],
                "quiet_max": float(np.nanmax(quiet)) if quiet.size else None,
                "rest_max": float(np.nanmax(rest)) if rest.size else None,
                "speaking_p90": float(np.nanpercentile(speaking, 90)) if speaking.size else None}
    finally:
        await client.close()


async def refusals(base: str, key: dict[str, str], image: str) -> dict[str, Any]:
    """Every bad request gets its clear 4xx: bad SDP, others' sessions, no credits, the caps."""
    out: dict[str, Any] = {}
    auth = {k: {"Authorization": f"Bearer {v}"} for k, v in key.items()}
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        async def status(method: str, path: str, who: str = "rich", **kw: Any) -> list[Any]:
            r = await http.request(method, path, headers={**auth.get(who, {}), **kw.pop("headers", {})}, **kw)
            body = r.json() if r.headers.get("content-type", "").startswith("application/json") else r.text
            return [r.status_code, body]

        form = {"formState": {"image": image}}
        out["no_key"] = await status("POST", "/api/v1/live", who="nobody", json=form)
        out["bad_json"] = await status("POST", "/api/v1/live", content=b"{nope",
                                       headers={"Content-Type": "application/json"})
        out["no_image"] = await status("POST", "/api/v1/live", json={"formState": {}})
        out["bad_resolution"] = await status("POST", "/api/v1/live",
                                             json={"formState": {"image": image, "resolution": "4k"}})
        out["not_a_picture"] = await status("POST", "/api/v1/live",
                                            json={"formState": {"image": base + "/openapi.json"}})
        out["no_credits"] = await status("POST", "/api/v1/live", who="poor", json=form)
        first = await status("POST", "/api/v1/live", json=form)
        second = await status("POST", "/api/v1/live", json=form)
        out["third_over_cap"] = await status("POST", "/api/v1/live", json=form)
        sid = first[1]["id"]
        whip = f"/api/v1/live/{sid}/whip"
        out["whip_wrong_type"] = await status("POST", whip, content=b"v=0\r\n",
                                              headers={"Content-Type": "text/plain"})
        out["whip_not_sdp"] = await status("POST", whip, content=b"hello",
                                           headers={"Content-Type": "application/sdp"})
        out["whip_garbage_sdp"] = await status(
            "POST", whip, content=b"v=0\r\nm=audio x y z\r\na=\x01\r\n",
            headers={"Content-Type": "application/sdp"})
        out["whip_no_video"] = await status(
            "POST", whip, headers={"Content-Type": "application/sdp"},
            content=(b"v=0\r\no=- 1 1 IN IP4 127.0.0.2\r\ns=-\r\nt=0 0\r\n"
                     b"m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\n"
                     b"a=setup:actpass\r\na=mid:0\r\na=ice-ufrag:abcd\r\n"
                     b"a=ice-pwd:abcdefghijklmnopqrstuvwx\r\n"
                     b"a=fingerprint:sha-256 " + b":".join([b"AB"] * 32) + b"\r\n"
                     b"a=sctp-port:5000\r\n"))
        out["other_get"] = await status("GET", f"/api/v1/live/{sid}", who="other")
        out["other_whip"] = await status("POST", whip, who="other", content=b"v=0\r\nm=",
                                         headers={"Content-Type": "application/sdp"})
        out["other_delete"] = await status("DELETE", f"/api/v1/live/{sid}", who="other")
        out["unknown_get"] = await status("GET", "/api/v1/live/live_0000")
        out["own_get"] = await status("GET", f"/api/v1/live/{sid}")
        out["delete_second"] = await status("DELETE", f"/api/v1/live/{second[1]['id']}")
        # Not connected within LIPSYNC_LIVE_CONNECT_SECONDS: the first one expires.
        await asyncio.sleep(float(SETTINGS["LIPSYNC_LIVE_CONNECT_SECONDS"]) + 1.5)
        out["expired_get"] = await status("GET", f"/api/v1/live/{sid}")
        out["expired_whip"] = await status("POST", whip, content=b"v=0\r\nm=audio",
                                           headers={"Content-Type": "application/sdp"})
        out["after_cap"] = await status("POST", "/api/v1/live", json=form)
        if out["after_cap"][0] == 201:
            await status("DELETE", f"/api/v1/live/{out['after_cap'][1]['id']}")
    return out


async def ends(base: str, key: dict[str, str], image: str) -> dict[str, Any]:
    """Sessions end by themselves, with their reason: credits, silence, length."""
    audio, _ = speech48k()
    loud = np.tile(audio, 4)
    out: dict[str, Any] = {}

    async def run(who: str, sound: np.ndarray, wait: float) -> dict[str, Any]:
        client = LiveClient(base, key[who], keep_frames=False)
        try:
            created = await client.create(image)
            start = time.monotonic()
            await client.connect(sound)
            await asyncio.wait_for(client.ended.wait(), wait)
            took = time.monotonic() - start
            state = (await client.http.get(f"/api/v1/live/{created['id']}")).json()
            return {"state": state, "took": took, "frames": len(client.received.video_pts)}
        finally:
            await client.close()

    results = await asyncio.gather(run("twelve", loud, 30), run("rich", np.zeros(48_000, np.float32), 30),
                                   return_exceptions=True)
    out["credits"], out["idle"] = [r if isinstance(r, dict) else repr(r) for r in results]
    out["max"] = await run("other", loud, 40)
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        r = await http.get("/api/v1/account", headers={"Authorization": f"Bearer {key['twelve']}"})
        out["twelve_balance"] = r.json()["credits"]
    return out


async def replicas(base: str, key: dict[str, str], image: str, stack: ProcessStack) -> dict[str, Any]:
    """A second live replica passes a WHIP offer and a DELETE for a session it does not run to
    the one that does (as a round-robin Service would deliver them)."""
    port = free_port(avoid={int(stack.live_addr.rsplit(":", 1)[1])})
    env = {**stack.env("live"), "LIPSYNC_LIVE_ADDR": f"127.0.0.1:{port}"}
    log = (stack.logs / "live-2.log").open("ab")
    second = subprocess.Popen([sys.executable, "-m", "services.cli", "serve", "live"], env=env,
                              stdout=log, stderr=subprocess.STDOUT)
    client = LiveClient(base, key["rich"], keep_frames=False)
    try:
        wait_for_port(f"127.0.0.1:{port}", 60)
        created = await client.create(image)  # through the proxy: the first replica runs it
        pc = RTCPeerConnection()
        pc.addTransceiver("video", direction="recvonly")
        await pc.setLocalDescription(await pc.createOffer())
        metadata = (("authorization", f"Bearer {key['rich']}"),)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = live_pb2_grpc.LiveServiceStub(channel)
            answer = await stub.Offer(live_pb2.LiveOfferRequest(id=str(created["id"]),
                                                                sdp=pc.localDescription.sdp),
                                      metadata=metadata, timeout=30)
            await pc.setRemoteDescription(RTCSessionDescription(sdp=answer.sdp, type="answer"))
            client.pc = pc
            await asyncio.sleep(2)
            live = (await client.http.get(f"/api/v1/live/{created['id']}")).json()
            ended = await stub.EndSession(live_pb2.LiveSessionRequest(id=str(created["id"])),
                                          metadata=metadata, timeout=10)
        return {"answer_is_sdp": answer.sdp.startswith("v=0"), "status_while": live["status"],
                "ended": ended.status, "reason": ended.end_reason}
    finally:
        await client.close()
        terminate(second)
        log.close()


async def main(out_path: Path) -> None:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="lipsync-live-test-") as tmp, \
            ProcessStack(Path(tmp), env=SETTINGS, live=True) as stack:
        key = await keys(stack.redis_url)
        face = samples.save_image(Path(tmp) / "face.png", samples.astronaut())
        async with httpx.AsyncClient(base_url=stack.base_url, timeout=60) as http:
            r = await http.post("/api/v1/files", content=face.read_bytes(),
                                headers={"Authorization": f"Bearer {key['rich']}"})
            image = r.json()["url"]
        scenarios: dict[str, Callable[..., Awaitable[dict[str, Any]]]] = {
            "sync": sync, "refusals": refusals, "ends": ends, "replicas": replicas}
        for name, scenario in scenarios.items():
            if len(sys.argv) > 2 and name not in sys.argv[2:]:
                continue
            try:
                extra = (stack,) if scenario is replicas else ()
                results[name] = await scenario(stack.base_url, key, image, *extra)
            except Exception:
                results[name] = {"error": traceback.format_exc()}
        results["live_log"] = stack.log_tail("live", 60)
    out_path.write_text(json.dumps(results, default=str, indent=1))


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
