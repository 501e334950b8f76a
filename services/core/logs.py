"""Structured logs: one JSON object a line, carrying the request and job ids in play.

The proxy takes (or makes) an `X-Request-Id` and passes it to the job service as gRPC metadata;
the job service and the workers put the request and job ids in context, so every line logged
while handling them says which request and which job it belongs to, from REST to the worker.
"""

from __future__ import annotations

import contextvars
import logging
import sys
import time
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter as JsonLinesFormatter

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
job_id: contextvars.ContextVar[str] = contextvars.ContextVar("job_id", default="")


_make_record = logging.getLogRecordFactory()


def _record_with_context(*args: Any, **kwargs: Any) -> logging.LogRecord:
    """Stamp each record with the ids in context when it is made (it may be formatted later,
    elsewhere). Own attribute names, so `extra={"job_id": ...}` still works."""
    record = _make_record(*args, **kwargs)
    record.ctx_request_id = request_id.get()
    record.ctx_job_id = job_id.get()
    return record


logging.setLogRecordFactory(_record_with_context)


class JsonFormatter(JsonLinesFormatter):
    """python-json-logger writes the line; this names the fields as our logs always have (`time`
    in UTC with milliseconds, lowercase `level`, `error` for a traceback) and adds the ids in
    context. Fields passed with `extra=` are written too."""

    def __init__(self) -> None:
        super().__init__(["asctime", "levelname", "name", "message"], json_ensure_ascii=False,
                         rename_fields={"asctime": "time", "levelname": "level", "name": "logger",
                                        "exc_info": "error"},
                         reserved_attrs=[*RESERVED_ATTRS, "ctx_request_id", "ctx_job_id"])

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"

    def add_fields(self, log_data: dict[str, Any], record: logging.LogRecord,
                   message_dict: dict[str, Any]) -> None:
        super().add_fields(log_data, record, message_dict)
        log_data["level"] = record.levelname.lower()
        for name in ("request_id", "job_id"):
            value = getattr(record, name, None) or getattr(record, f"ctx_{name}", "")
            if value:
                log_data[name] = value


def configure(json_lines: bool = True, level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
