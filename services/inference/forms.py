"""A render request in one shape, whether it came from a queued job or a direct RPC."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from services.core.vocabulary import DEFAULT_RESOLUTION, Model, Order
from services.store.jobs import JobRecord

# model -> its URL inputs: (public field name, kind of media, required)
INPUTS: dict[str, tuple[tuple[str, str, bool], ...]] = {
    Model.VIDEO: (("video", "video", True), ("audio", "audio", True), ("mask_image", "image", False)),
    Model.IMAGE: (("image", "image", True), ("audio", "audio", True), ("mask_image", "image", False)),
    Model.IMAGE_MULTI: (("image", "image", True), ("left_audio", "audio", True),
                        ("right_audio", "audio", True)),
}


@dataclass(frozen=True)
class RenderForm:
    model: str
    urls: dict[str, str] = field(default_factory=dict)  # field -> URL, only those given
    resolution: str = DEFAULT_RESOLUTION
    order: str = Order.MEANWHILE
    seed: int | None = None  # None or -1: random
    prompt: str = ""  # style instruction text (services.engine.render.style)

    @classmethod
    def from_mapping(cls, model: str, values: Mapping[str, Any], resolution: str | None = None,
                     seed: int | None = None) -> RenderForm:
        """From a formState (public JSON names). The caller has validated it."""
        if model not in INPUTS:
            raise ValueError(f"unknown model {model!r}")
        urls = {name: str(values[name]) for name, _, _ in INPUTS[model] if values.get(name)}
        if seed is None and values.get("seed") is not None:
            seed = int(values["seed"])
        resolution = str(resolution or values.get("resolution") or DEFAULT_RESOLUTION)
        return cls(model=model, urls=urls, resolution=resolution,
                   order=str(values.get("order") or Order.MEANWHILE), seed=seed,
                   prompt=str(values.get("prompt") or ""))

    @classmethod
    def from_job(cls, job: JobRecord) -> RenderForm:
        # The job's own seed wins: once a render has picked one, a retry must reuse it.
        return cls.from_mapping(job.model, job.form, job.resolution, job.seed)
