"""Python client of the lipsync REST API.

    from lipsync_client import Client
    with Client(base_url="http://127.0.0.1:8080", api_key="sk_...") as client:
        job = client.lipsync_image(image="face.png", audio="speech.mp3")   # local files are uploaded
        job = client.wait(job.id, on_progress=lambda j: print(f"{j.progress:.0%}"))
        client.download(job, "out.mp4")

`AsyncClient` is the same with coroutines; `verify_webhook` checks a delivery's signature.
"""

from lipsync_client._async_client import AsyncClient
from lipsync_client._client import Client
from lipsync_client._errors import (
    APIConnectionError,
    APIError,
    AuthenticationError,
    Conflict,
    InsufficientCredits,
    InvalidRequest,
    InvalidSignature,
    LipsyncError,
    NotFound,
    RateLimited,
    ServerError,
    WaitTimeout,
)
from lipsync_client._models import Account, Job
from lipsync_client._webhooks import sign_webhook, verify_webhook

__version__ = "0.1.0"

__all__ = [
    "APIConnectionError",
    "APIError",
    "Account",
    "AsyncClient",
    "AuthenticationError",
    "Client",
    "Conflict",
    "InsufficientCredits",
    "InvalidRequest",
    "InvalidSignature",
    "Job",
    "LipsyncError",
    "NotFound",
    "RateLimited",
    "ServerError",
    "WaitTimeout",
    "sign_webhook",
    "verify_webhook",
]
