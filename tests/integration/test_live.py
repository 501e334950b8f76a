"""Live sessions end to end: the production processes, a real aiortc client, real speech.

Everything runs in a network namespace of its own (`services.devtools.netns`): WebRTC pairs
host addresses, and there only loopback exists, so no packet can leave the machine. The
scenarios run once (`live_scenarios.py`, about 45 s); each test here judges one part.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from services.devtools import netns

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(netns.unavailable() is not None, reason=str(netns.unavailable()))]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def seen(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("live") / "scenarios.json"
    command = netns.loopback_only([sys.executable, "-m", "tests.integration.live_scenarios", str(out)])
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    results: dict[str, Any] = json.loads(out.read_text())
    return results


def _ok(seen: dict[str, Any], name: str) -> dict[str, Any]:
    result: dict[str, Any] = seen[name]
    assert "error" not in result, result.get("error", "") + seen.get("live_log", "")
    return result


def test_the_mouth_follows_the_speech_within_a_frame(seen: dict[str, Any]) -> None:
    sync = _ok(seen, "sync")
    assert sync["created"]["whip"] == f"/api/v1/live/{sync['created']['id']}/whip"
    assert sync["created"]["expiresAt"] and sync["created"]["status"] == "waiting"
    assert sync["size"] == [480, 480, 3]  # the 512 px portrait at 480p
    # 25 fps: every frame of the time streamed came back.
    assert sync["frames"] >= 0.95 * 25 * sync["elapsed"] - 15
    assert abs(sync["lag"]) <= 1, sync
    assert sync["r"] > 0.5, sync
    # Received audio and video play within a frame of each other.
    assert abs(sync["av_offset_ms"]) < 40
    latency = sync["state"]["latencyMs"]
    assert latency["total_p50"] < 250, latency
    assert latency["av_offset_max"] < 40, latency


def test_mouth_closes_when_the_speech_stops(seen: dict[str, Any]) -> None:
    sync = _ok(seen, "sync")
    # From two frames after the speech's end, the lips are back where they rest.
    assert sync["quiet_max"] <= sync["rest_max"] + 0.01, sync
    assert sync["speaking_p90"] > sync["rest_max"] + 0.03, sync


def test_session_state_and_end(seen: dict[str, Any]) -> None:
    sync = _ok(seen, "sync")
    assert sync["state"]["status"] == "live" and sync["state"]["secondsStreamed"] > 3
    assert sync["state"]["credits"] >= 10  # the first 5 s at 480p, then 2 a second
    assert sync["ended"]["status"] == "ended" and sync["ended"]["endReason"] == "ended_by_client"
    assert sync["after"]["status"] == "ended"
    # 2 credits a second at 480p, seconds rounded up, at least 5 (what was billed ahead and
    # not streamed went back).
    assert sync["after"]["credits"] == 2 * max(5, math.ceil(sync["after"]["secondsStreamed"]))


def test_bad_requests_get_clear_errors(seen: dict[str, Any]) -> None:
    r = _ok(seen, "refusals")
    expected = {"no_key": 401, "bad_json": 400, "no_image": 400, "bad_resolution": 400,
                "not_a_picture": 400, "no_credits": 402, "third_over_cap": 429,
                "whip_wrong_type": 415, "whip_not_sdp": 400, "whip_garbage_sdp": 400,
                "whip_no_video": 400, "other_get": 404, "other_whip": 404, "other_delete": 404,
                "unknown_get": 404, "own_get": 200, "delete_second": 200, "expired_get": 200,
                "expired_whip": 400, "after_cap": 201}
    assert {k: r[k][0] for k in expected} == expected
    for name, (status, body) in r.items():
        if status >= 400:
            assert body["error"] and body["code"], name
    assert r["whip_not_sdp"][1]["field"] == "sdp"
    assert r["not_a_picture"][1]["field"] == "formState.image"
    # Another account's session is as unknown as one that never was.
    assert r["other_get"][1]["error"].startswith("No live session")


def test_sessions_expire_when_never_connected(seen: dict[str, Any]) -> None:
    r = _ok(seen, "refusals")
    assert r["expired_get"][1]["status"] == "ended"
    assert r["expired_get"][1]["endReason"] == "expired"
    assert "ended" in r["expired_whip"][1]["error"]


def test_sessions_end_on_credits_silence_and_length(seen: dict[str, Any]) -> None:
    ends = _ok(seen, "ends")
    credits, idle, longest = ends["credits"], ends["idle"], ends["max"]
    assert credits["state"]["endReason"] == "credits_exhausted", credits
    assert credits["state"]["credits"] == 12 and ends["twelve_balance"] == 0
    assert 4 <= credits["state"]["secondsStreamed"] <= 7
    assert idle["state"]["endReason"] == "idle", idle
    assert idle["state"]["secondsStreamed"] < 6
    assert longest["state"]["endReason"] == "max_duration", longest
    assert 8.5 <= longest["state"]["secondsStreamed"] <= 10.5
    assert longest["frames"] > 200  # the client saw the stream until the server hung up


def test_a_replica_passes_calls_to_the_one_running_the_session(seen: dict[str, Any]) -> None:
    r = _ok(seen, "replicas")
    assert r["answer_is_sdp"] and r["status_while"] == "live", r
    assert r["ended"] == "ended" and r["reason"] == "ended_by_client", r
