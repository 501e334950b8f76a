"""Prometheus metrics, all defined here so their names and labels stay consistent.

Each process exposes them on `/metrics`: the proxy on its HTTP port, the job and inference
services on `LIPSYNC_METRICS_PORT` (0 = off; `lipsync dev` runs everything in one process, so
the proxy's `/metrics` shows it all).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

# Seconds: a poll takes milliseconds, a render seconds to minutes.
_FAST = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_SLOW = (0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800)

http_requests = Counter("lipsync_http_requests_total", "REST requests answered",
                        ["route", "method", "status"])
http_latency = Histogram("lipsync_http_request_seconds", "REST request latency", ["route"],
                         buckets=_FAST)
jobs_submitted = Counter("lipsync_jobs_submitted_total", "Jobs accepted", ["model"])
jobs_finished = Counter("lipsync_jobs_finished_total", "Jobs that ended", ["model", "status"])
job_duration = Histogram("lipsync_job_duration_seconds", "Processing time of finished jobs",
                         ["model", "status"], buckets=_SLOW)
stage_duration = Histogram("lipsync_job_stage_seconds", "Per-stage time of completed jobs",
                           ["stage"], buckets=_SLOW)
queue_waiting = Gauge("lipsync_queue_waiting_jobs", "Jobs queued and not yet taken by a worker")
queue_in_progress = Gauge("lipsync_queue_in_progress_jobs", "Jobs taken by workers, not finished")
webhook_attempts = Counter("lipsync_webhook_attempts_total", "Webhook delivery attempts",
                           ["result"])
triton_latency = Histogram("lipsync_triton_request_seconds", "Triton inference round trips",
                           ["model"], buckets=_FAST)
triton_failures = Counter("lipsync_triton_failures_total", "Triton requests that failed",
                          ["model"])

# Live sessions (`lipsync serve live`).
live_sessions = Gauge("lipsync_live_sessions", "Live sessions in this process", ["status"])
live_sessions_ended = Counter("lipsync_live_sessions_ended_total", "Live sessions that ended",
                              ["reason"])
live_frames = Counter("lipsync_live_frames_total", "Live video frames sent")
live_dropped_frames = Counter("lipsync_live_dropped_frames_total",
                              "Live video frames skipped to keep up with the audio clock")
live_latency = Histogram("lipsync_live_sound_to_mouth_seconds",
                         "From a sound's arrival to its mouth frame leaving, by stage", ["stage"],
                         buckets=(0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.225, 0.25,
                                  0.275, 0.3, 0.4, 0.5))


def serve_metrics(port: int) -> None:
    """Expose this process's metrics on `port` (for the gRPC-only processes)."""
    if port:
        start_http_server(port)
