"""The one place that reads the environment. Everything else receives a `Settings`.

Each setting is declared once below, with its type and default; `LIPSYNC_<NAME>` sets it (every
variable is documented in the README). pydantic parses and checks the values, so a bad one stops
the process with the variable's name instead of a traceback. Tests build `Settings(...)` directly,
which reads no environment.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

ENV_PREFIX = "LIPSYNC_"


class Secret(str):
    """A string that never shows itself in logs or reprs."""

    def __repr__(self) -> str:
        return "Secret('**********')"


class SettingsError(ValueError):
    """A `LIPSYNC_*` variable holds a value its setting cannot take."""


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True, extra="forbid")

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
    signing_key: Secret = Field(default_factory=lambda: Secret(secrets.token_urlsafe(32)))
    admin_token: Secret = Secret("")
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
    s3_secret_access_key: Secret = Secret("")
    # Abuse limits; 0 turns one off. Reads (polling, listing, the account) and cancels share
    # the larger budget; submits have their own. Budgets are per API key, the cap per account.
    rate_limit_submit_per_minute: int = 60
    rate_limit_read_per_minute: int = 600
    max_concurrent_jobs: int = 10  # processing jobs per account
    # Live sessions (`lipsync serve live`, docs/live.md). The proxy dials live_addr.
    live_addr: str = "127.0.0.1:50053"  # the live service's gRPC address
    # This live process's own address for its peers (a pod's IP): a call for a session that runs
    # on another replica is passed there. Empty: live_addr (one replica).
    live_advertise_addr: str = ""
    live_max_sessions: int = 4  # sessions one live process runs at once (its cores' worth)
    max_concurrent_sessions: int = 2  # live sessions per account (0: off)
    live_max_seconds: float = 1800.0  # a session ends after this much streaming
    live_idle_seconds: float = 120.0  # ... or after this long without sound from the caller
    live_connect_seconds: float = 60.0  # a session with no connected offer by then expires
    # ICE servers handed to WebRTC, comma-separated (stun:host:3478, turn:host:3478?transport=udp);
    # the TURN servers' username and credential. Empty: host candidates only (no NAT traversal).
    ice_servers: str = ""
    ice_username: str = ""
    ice_credential: Secret = Secret("")
    # The web console (/console/, issue 12). Self sign-up is off: the operator makes users with
    # `lipsync users create`. Sign-in attempts are budgeted per email and per client address.
    console_signup: bool = False
    console_session_seconds: int = 12 * 3600  # a session ends this long after sign-in
    console_signin_per_account_per_minute: int = 5
    console_signin_per_address_per_minute: int = 30

    @field_validator("signing_key", "admin_token", "s3_secret_access_key", "ice_credential",
                     mode="before")
    @classmethod
    def _secret(cls, value: Any) -> Secret:
        return Secret(value)

    @field_validator("public_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("generator", "log_format")
    @classmethod
    def _lowercase(cls, value: str) -> str:
        return value.strip().lower()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read `LIPSYNC_*` variables; anything unset (or an empty secret) keeps its default."""
        env = os.environ if env is None else env
        values = {name: env[ENV_PREFIX + name.upper()] for name in cls.model_fields
                  if ENV_PREFIX + name.upper() in env}
        if not values.get("signing_key"):
            values.pop("signing_key", None)
        try:
            return cls.model_validate(values)
        except ValidationError as error:
            problems = "; ".join(f"{ENV_PREFIX}{str(e['loc'][0]).upper()}: {e['msg']}"
                                 for e in error.errors())
            raise SettingsError(f"invalid setting: {problems}") from None

    def with_(self, **changes: object) -> Settings:
        return self.model_validate({**self.__dict__, **changes})

    @property
    def outputs_dir(self) -> Path:
        return self.data_dir / "outputs"

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "uploads"
