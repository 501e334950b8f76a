"""A job record as the public `Job` message (the body of GET /api/v1/jobs/{id} and webhooks)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from google.protobuf import struct_pb2

from protos.lipsync.v1 import jobs_pb2
from services.core.settings import Settings
from services.storage.links import signed_url
from services.store.jobs import JobRecord, Status


def job_message(record: JobRecord, settings: Settings) -> jobs_pb2.Job:
    job = jobs_pb2.Job(
        id=record.id,
        model=record.model,
        status=record.status.value,
        error=record.error,
        progress=1.0 if record.status is Status.COMPLETED else record.progress,
        created_at=datetime.fromtimestamp(record.created_at, UTC).isoformat(timespec="milliseconds")
        .replace("+00:00", "Z"),
    )
    if record.status is Status.COMPLETED and record.output_key:
        job.output = signed_url(settings, record.output_key)
    if record.status is not Status.PROCESSING and record.execution_ms is not None:
        job.execution_time = record.execution_ms
    if record.timings is not None:
        timings = struct_pb2.Struct()
        timings.update({k: float(v) for k, v in record.timings.items()})
        job.timings.CopyFrom(timings)
    if record.seed is not None and record.seed >= 0:
        job.seed = record.seed
    if record.status is Status.COMPLETED and record.credits is not None:
        job.credits = record.credits
    if record.style is not None:
        job.style.CopyFrom(style_message(record.style))
    return job


def style_message(style: dict[str, Any]) -> jobs_pb2.JobStyle:
    """A style as recorded (`services.engine.render.style.Style.as_dict`) as its message."""
    return jobs_pb2.JobStyle(
        expressiveness=float(style.get("expressiveness", 1.0)), emotion=str(style.get("emotion", "")),
        emotion_strength=float(style.get("emotionStrength", 1.0)),
        blink_rate=float(style.get("blinkRate", 1.0)), still=bool(style.get("still", False)),
        words=[str(w) for w in style.get("words", ())])
