"""Checking a submitted form: every problem is an InvalidArgument naming the public field.

Only what can be checked without I/O is checked here (submit must stay fast); whether a URL
answers, and with what, is the worker's business and ends the job with a clear error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from google.protobuf.message import Message

from services.core.billing import CREDITS_PER_SECOND
from services.core.errors import InvalidArgument
from services.core.settings import Settings
from services.webhooks.url_rules import validate_webhook_url

MAX_URL = 2048
MAX_PROMPT = 2000
ORDERS = ("meanwhile", "left_right", "right_left")
SEED_MAX = 2**31 - 1

# model -> the URL fields it requires, and the optional ones
REQUIRED_URLS = {
    "lipsync-video": ("video", "audio"),
    "lipsync-image": ("image", "audio"),
    "lipsync-image-multi": ("image", "left_audio", "right_audio"),
}
OPTIONAL_URLS = {"lipsync-video": ("mask_image",), "lipsync-image": ("mask_image",),
                 "lipsync-image-multi": ()}


@dataclass(frozen=True)
class ValidForm:
    form: dict[str, Any]  # public JSON names, defaults filled in
    resolution: str
    seed: int | None  # None: pick one when rendering


def form_dict(message: Message) -> dict[str, Any]:
    """The form's set fields under their public (json) names."""
    return {f.json_name: getattr(message, f.name) for f in message.DESCRIPTOR.fields
            if not (f.has_presence and not message.HasField(f.name))}


def check_url(value: str, field: str) -> None:
    if len(value) > MAX_URL:
        raise InvalidArgument(f"{field} is longer than {MAX_URL} characters", field=field)
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidArgument(f"{field} must be an http(s) URL", field=field)


def validate(model: str, webhook: str, has_form: bool, form_message: Message,
             settings: Settings) -> ValidForm:
    if webhook:
        problem = validate_webhook_url(webhook, settings)
        if problem:
            raise InvalidArgument(problem, field="webhook")
    if not has_form:
        raise InvalidArgument("formState is required", field="formState")
    form = form_dict(form_message)
    for name in REQUIRED_URLS[model]:
        value = form.get(name) or ""
        if not value:
            raise InvalidArgument(f"formState.{name} is required", field=f"formState.{name}")
        check_url(value, f"formState.{name}")
    for name in OPTIONAL_URLS[model]:
        if form.get(name):
            check_url(form[name], f"formState.{name}")
        else:
            form.pop(name, None)
    resolution = form.get("resolution") or "480p"
    if resolution not in CREDITS_PER_SECOND:
        raise InvalidArgument('formState.resolution must be "480p" or "720p"',
                              field="formState.resolution")
    form["resolution"] = resolution
    if model == "lipsync-image-multi":
        order = form.get("order") or "meanwhile"
        if order not in ORDERS:
            raise InvalidArgument(f"formState.order must be one of {', '.join(ORDERS)}",
                                  field="formState.order")
        form["order"] = order
    if len(form.get("prompt") or "") > MAX_PROMPT:
        raise InvalidArgument(f"formState.prompt is longer than {MAX_PROMPT} characters",
                              field="formState.prompt")
    seed = form.get("seed")
    if seed is not None and not -1 <= seed <= SEED_MAX:
        raise InvalidArgument(f"formState.seed must be -1 (random) or between 0 and {SEED_MAX}",
                              field="formState.seed")
    chosen = None if seed is None or seed == -1 else int(seed)
    return ValidForm(form=form, resolution=resolution, seed=chosen)
