"""A form's inputs: fetched side by side into a work directory, then measured for billing."""

from __future__ import annotations

import asyncio
from pathlib import Path

from services.core.settings import Settings
from services.core.vocabulary import Model, Order
from services.engine.media import av_io as media
from services.inference.forms import INPUTS, RenderForm
from services.net.fetch import fetch_input

MEASURE_RATE = 16_000  # enough to count seconds; a quarter of the memory of 48 kHz


def limits_for(settings: Settings) -> media.Limits:
    return media.Limits(max_audio_seconds=settings.max_audio_seconds)


async def fetch_inputs(form: RenderForm, settings: Settings, workdir: Path) -> dict[str, Path]:
    """field -> local path of every input the form names. The first failure cancels the rest."""
    tasks = {name: asyncio.ensure_future(fetch_input(form.urls[name], workdir / name, settings, kind,
                                                     label=name))
             for name, kind, _ in INPUTS[form.model] if name in form.urls}
    try:
        await asyncio.gather(*tasks.values())
    except BaseException:
        for task in tasks.values():
            task.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)
        raise
    return {name: task.result() for name, task in tasks.items()}


def audio_seconds(path: Path, limits: media.Limits) -> float:
    return media.load_audio(path, MEASURE_RATE, limits).size / MEASURE_RATE


def output_seconds(form: RenderForm, paths: dict[str, Path], limits: media.Limits) -> float:
    """How long the output will be, as the public API bills it. Decodes the audio (blocking),
    which also refuses unusable audio before any credits move."""
    if form.model != Model.IMAGE_MULTI:
        return audio_seconds(paths["audio"], limits)
    left = audio_seconds(paths["left_audio"], limits)
    right = audio_seconds(paths["right_audio"], limits)
    return max(left, right) if form.order == Order.MEANWHILE else left + right
