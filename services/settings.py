"""The one place that reads the environment. Everything else receives a `Settings`.

Every variable is documented in the README; tests build `Settings(...)` directly.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path


class Secret(str):
    """A string that never shows itself in logs or reprs."""

    def __repr__(self) -> str:
        return "Secret('**********')"


def _bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    redis_url: str = "redis://127.0.0.1:6379/0"
    jobs_addr: str = "127.0.0.1:50051"  # the job service's gRPC address
    inference_addr: str = "127.0.0.1:50052"  # the inference service's gRPC address
    public_url: str = "http://127.0.0.1:8080"  # base of output and upload links
    data_dir: Path = Path("data")
    triton_url: str = ""  # empty: models run in-process with ONNX Runtime
    # "" renders with the built-in engine; "wav2lip" with an operator-exported generator
    # (`lipsync export-generator`), whose model is `generator_model`: the ONNX file's path
    # in-process (default triton_models/wav2lip/1/model.onnx), its Triton name with triton_url
    # (default "wav2lip").
    generator: str = ""
    generator_model: str = ""
    allow_private_urls: bool = False  # let inputs and webhooks reach private/loopback hosts
    allow_http_webhooks: bool = False  # plain-http webhooks (local development only)
    signing_key: Secret = field(default_factory=lambda: Secret(secrets.token_urlsafe(32)))
    admin_token: Secret = field(default_factory=lambda: Secret(""))
    proxy_host: str = "127.0.0.1"
    proxy_port: int = 8080
    worker_concurrency: int = 1
    max_attempts: int = 3  # a job that kills this many workers fails
    claim_idle_seconds: float = 60.0  # a job unacknowledged this long is taken over
    output_ttl_seconds: int = 7 * 24 * 3600  # output links expire, as the original's outputs do
    max_body_bytes: int = 1 << 20  # JSON request bodies
    max_upload_bytes: int = 200 << 20
    max_input_bytes: int = 512 << 20
    max_audio_seconds: float = 600.0
    metrics_port: int = 0  # Prometheus /metrics of the gRPC-only processes (0: off)
    log_format: str = "json"  # "json": one JSON object a line; "text": for people
    # S3-compatible object storage for outputs and uploads; empty bucket = the local data dir.
    s3_bucket: str = ""
    s3_endpoint_url: str = ""  # empty: AWS itself; else MinIO, Ceph, R2, ...
    s3_region: str = "us-east-1"
    s3_access_key_id: str = ""
    s3_secret_access_key: Secret = field(default_factory=lambda: Secret(""))
    # Abuse limits; 0 turns one off. Reads (polling, listing, the account) and cancels share
    # the larger budget; submits have their own. Budgets are per API key, the cap per account.
    rate_limit_submit_per_minute: int = 60
    rate_limit_read_per_minute: int = 600
    max_concurrent_jobs: int = 10  # processing jobs per account

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read `LIPSYNC_*` variables; anything unset keeps its default."""
        env = os.environ if env is None else env
        defaults = cls()
        signing = env.get("LIPSYNC_SIGNING_KEY")
        return cls(
            redis_url=env.get("LIPSYNC_REDIS_URL", defaults.redis_url),
            jobs_addr=env.get("LIPSYNC_JOBS_ADDR", defaults.jobs_addr),
            inference_addr=env.get("LIPSYNC_INFERENCE_ADDR", defaults.inference_addr),
            public_url=env.get("LIPSYNC_PUBLIC_URL", defaults.public_url).rstrip("/"),
            data_dir=Path(env.get("LIPSYNC_DATA_DIR", str(defaults.data_dir))),
            triton_url=env.get("LIPSYNC_TRITON_URL", ""),
            generator=env.get("LIPSYNC_GENERATOR", "").strip().lower(),
            generator_model=env.get("LIPSYNC_GENERATOR_MODEL", ""),
            allow_private_urls=_bool(env.get("LIPSYNC_ALLOW_PRIVATE_URLS", "0")),
            allow_http_webhooks=_bool(env.get("LIPSYNC_ALLOW_HTTP_WEBHOOKS", "0")),
            signing_key=Secret(signing) if signing else defaults.signing_key,
            admin_token=Secret(env.get("LIPSYNC_ADMIN_TOKEN", "")),
            proxy_host=env.get("LIPSYNC_PROXY_HOST", defaults.proxy_host),
            proxy_port=int(env.get("LIPSYNC_PROXY_PORT", str(defaults.proxy_port))),
            worker_concurrency=int(env.get("LIPSYNC_WORKER_CONCURRENCY", "1")),
            max_attempts=int(env.get("LIPSYNC_MAX_ATTEMPTS", "3")),
            claim_idle_seconds=float(env.get("LIPSYNC_CLAIM_IDLE_SECONDS", "60")),
            metrics_port=int(env.get("LIPSYNC_METRICS_PORT", "0")),
            log_format=env.get("LIPSYNC_LOG_FORMAT", "json").strip().lower(),
            s3_bucket=env.get("LIPSYNC_S3_BUCKET", ""),
            s3_endpoint_url=env.get("LIPSYNC_S3_ENDPOINT_URL", ""),
            s3_region=env.get("LIPSYNC_S3_REGION", "us-east-1"),
            s3_access_key_id=env.get("LIPSYNC_S3_ACCESS_KEY_ID", ""),
            s3_secret_access_key=Secret(env.get("LIPSYNC_S3_SECRET_ACCESS_KEY", "")),
            rate_limit_submit_per_minute=int(env.get("LIPSYNC_RATE_LIMIT_SUBMIT_PER_MINUTE", "60")),
            rate_limit_read_per_minute=int(env.get("LIPSYNC_RATE_LIMIT_READ_PER_MINUTE", "600")),
            max_concurrent_jobs=int(env.get("LIPSYNC_MAX_CONCURRENT_JOBS", "10")),
        )

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    @property
    def outputs_dir(self) -> Path:
        return self.data_dir / "outputs"

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "uploads"
