"""Checking a submitted form: every problem is an InvalidArgument naming the public field.

Only what can be checked without I/O is checked here (submit must stay fast); whether a URL
answers, and with what, is the worker's business and ends the job with a clear error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from google.protobuf.message import Message

from services.core.errors import InvalidArgument
from services.core.settings import Settings
from services.core.vocabulary import DEFAULT_RESOLUTION, Model, Order, Resolution
from services.webhooks.url_rules import validate_webhook_url

MAX_URL = 2048
MAX_PROMPT = 2000
SEED_MAX = 2**31 - 1

# model -> the URL fields it requires, and the optional ones
REQUIRED_URLS: dict[str, tuple[str, ...]] = {
    Model.VIDEO: ("video", "audio"),
    Model.IMAGE: ("image", "audio"),
    Model.IMAGE_MULTI: ("image", "left_audio", "right_audio"),
}
OPTIONAL_URLS: dict[str, tuple[str, ...]] = {
    Model.VIDEO: ("mask_image",), Model.IMAGE: ("mask_image",), Model.IMAGE_MULTI: ()}


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
    resolution = form.get("resolution") or DEFAULT_RESOLUTION
    if resolution not in set(Resolution):
        quoted = " or ".join(f'"{r}"' for r in Resolution)
        raise InvalidArgument(f"formState.resolution must be {quoted}", field="formState.resolution")
    form["resolution"] = str(resolution)
    if model == Model.IMAGE_MULTI:
        order = form.get("order") or Order.MEANWHILE
        if order not in set(Order):
            raise InvalidArgument(f"formState.order must be one of {', '.join(Order)}",
                                  field="formState.order")
        form["order"] = str(order)
    if len(form.get("prompt") or "") > MAX_PROMPT:
        raise InvalidArgument(f"formState.prompt is longer than {MAX_PROMPT} characters",
                              field="formState.prompt")
    seed = form.get("seed")
    if seed is not None and not -1 <= seed <= SEED_MAX:
        raise InvalidArgument(f"formState.seed must be -1 (random) or between 0 and {SEED_MAX}",
                              field="formState.seed")
    chosen = None if seed is None or seed == -1 else int(seed)
    return ValidForm(form=form, resolution=str(resolution), seed=chosen)
