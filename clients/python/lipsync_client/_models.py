"""The API's objects as typed values."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

FINAL_STATUSES = ("completed", "failed")


@dataclass(frozen=True)
class Job:
    """A job, as `GET /api/v1/jobs/{id}` answers it (`raw` holds that JSON as received)."""

    id: str
    status: str  # processing | completed | failed
    model: str | None = None  # lipsync-video | lipsync-image | lipsync-image-multi
    output: str | None = None  # the MP4's URL once completed
    error: str = ""  # why it failed
    execution_time: int | None = None  # ms, once finished
    timings: dict[str, float] | None = None  # per-stage ms
    progress: float = 0.0  # 0..1
    created_at: str | None = None
    seed: int | None = None
    credits: int | None = None  # charged, once completed
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Job:
        return cls(id=str(data["id"]), status=str(data["status"]), model=data.get("model"),
                   output=data.get("output"), error=data.get("error") or "",
                   execution_time=data.get("executionTime"), timings=data.get("timings"),
                   progress=float(data.get("progress") or 0.0), created_at=data.get("createdAt"),
                   seed=data.get("seed"), credits=data.get("credits"), raw=dict(data))

    @property
    def done(self) -> bool:
        """Completed or failed: it will not change again."""
        return self.status in FINAL_STATUSES


@dataclass(frozen=True)
class Account:
    id: str
    credits: int
    name: str = ""

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Account:
        return cls(id=str(data["id"]), credits=int(data["credits"]), name=str(data.get("name") or ""))
