"""An account's usage: its jobs as billing rows, totalled per API key and per day (UTC)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime

from protos.lipsync.v1 import console_pb2
from services.store.jobs import JobRecord, Status


def usage_row(job: JobRecord, key_names: dict[str, str]) -> console_pb2.UsageJob:
    # Completed jobs cost what they were charged, failed ones nothing, processing ones what is
    # reserved so far (the balance already lacks it).
    credits = (job.credits or 0) if job.status is Status.COMPLETED else \
        job.reserved if job.status is Status.PROCESSING else 0
    return console_pb2.UsageJob(
        id=job.id, model=job.model, status=job.status.value, resolution=job.resolution,
        output_seconds=job.seconds or 0.0, credits=credits, created_at=job.created_at,
        key_id=job.key_id, key_name=key_names.get(job.key_id, ""))


def day_of(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d")


def totals(rows: Iterable[console_pb2.UsageJob], by_day: bool) -> list[console_pb2.UsageTotal]:
    """Jobs, credits and output seconds per key (most credits first) or per day (newest first)."""
    sums: dict[str, console_pb2.UsageTotal] = defaultdict(console_pb2.UsageTotal)
    for row in rows:
        label = day_of(row.created_at) if by_day else row.key_id
        total = sums[label]
        total.label = label
        total.name = "" if by_day else row.key_name
        total.jobs += 1
        total.credits += row.credits
        total.output_seconds += row.output_seconds
    if by_day:
        return sorted(sums.values(), key=lambda t: t.label, reverse=True)
    return sorted(sums.values(), key=lambda t: (-t.credits, t.label))
