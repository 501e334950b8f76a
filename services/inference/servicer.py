"""`InferenceService.Render`: a render for internal callers, with no queue and no job record.

The form is checked as the job service checks a submitted one; the inputs are fetched as a
worker fetches them (same address policy and limits). Progress streams back while the engine
renders, then the MP4 in 1 MiB chunks, the last one carrying execution time, timings and seed
(and, for a form with a prompt, the style applied).
The caller's input problems come back as INVALID_ARGUMENT with the engine's message, a model
server that does not answer as UNAVAILABLE. A caller that hangs up stops the render at its next
progress report.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
from google.protobuf import struct_pb2

from protos.lipsync.v1 import inference_pb2, inference_pb2_grpc, jobs_pb2
from services.core.errors import InvalidArgument
from services.core.settings import Settings
from services.core.vocabulary import Model
from services.engine.render.renderer import resolve_seed
from services.inference.forms import RenderForm
from services.inference.inputs import limits_for
from services.inference.orchestration import RenderRunner
from services.inference.progress import ProgressRelay
from services.inference.rendering import frame_generator
from services.inference.shapes import AsyncMouthModel
from services.jobs.present import style_message
from services.jobs.validation import validate

log = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20
_MODELS = {"video": Model.VIDEO, "image": Model.IMAGE, "image_multi": Model.IMAGE_MULTI}


def form_of(request: inference_pb2.RenderRequest, settings: Settings) -> RenderForm:
    which = request.WhichOneof("form")
    if which is None:
        raise InvalidArgument("The request needs a form: video, image or image_multi", field="form")
    model = _MODELS[which]
    valid = validate(model, "", True, getattr(request, which), settings)
    return RenderForm.from_mapping(model, valid.form, valid.resolution, valid.seed)


def _progress(stage: str, fraction: float) -> inference_pb2.RenderEvent:
    return inference_pb2.RenderEvent(progress=inference_pb2.RenderProgress(stage=stage, fraction=fraction))


def result_events(path: Path, execution_ms: int, timings: dict[str, float], seed: int,
                  style: jobs_pb2.JobStyle | None = None) -> Iterator[inference_pb2.RenderEvent]:
    """The file in CHUNK_BYTES pieces; the last one carries the summary."""
    summary = struct_pb2.Struct()
    summary.update({stage: round(ms) for stage, ms in timings.items()})
    with path.open("rb") as f:
        chunk = f.read(CHUNK_BYTES)
        while True:
            following = f.read(CHUNK_BYTES)  # read ahead: the last chunk must say so
            if not following:
                yield inference_pb2.RenderEvent(result=inference_pb2.RenderResult(
                    mp4_chunk=chunk, last=True, execution_time=execution_ms, timings=summary, seed=seed,
                    style=style))
                return
            yield inference_pb2.RenderEvent(result=inference_pb2.RenderResult(mp4_chunk=chunk))
            chunk = following


class InferenceServicer(inference_pb2_grpc.InferenceServiceServicer):
    """`model`: the model server to run the mouth model on; None runs it in-process."""

    def __init__(self, settings: Settings, model: AsyncMouthModel | None = None) -> None:
        self.settings = settings
        self.runner = RenderRunner(settings, limits_for(settings), model, frame_generator(settings))

    async def Render(self, request: inference_pb2.RenderRequest,
                     context: grpc.aio.ServicerContext) -> AsyncIterator[inference_pb2.RenderEvent]:
        # Errors become statuses in the server's ErrorInterceptor (an InputError: INVALID_ARGUMENT).
        async for event in self._render(form_of(request, self.settings)):
            yield event

    async def _render(self, form: RenderForm) -> AsyncIterator[inference_pb2.RenderEvent]:
        """Progress events while the render runs, then the video in chunks."""
        started = time.monotonic()
        events: asyncio.Queue[inference_pb2.RenderEvent | None] = asyncio.Queue()
        hung_up = threading.Event()
        relay = ProgressRelay(asyncio.get_running_loop(),
                              lambda fraction, stage: events.put_nowait(_progress(stage, fraction)),
                              should_stop=hung_up.is_set)

        async def pick_seed(paths: dict[str, Path]) -> int:
            return resolve_seed(form.seed)

        with self.runner.work_dir("render-") as tmp:
            yield _progress("download", 0.0)
            rendering = asyncio.ensure_future(self.runner.render(form, tmp, pick_seed, relay))
            # Runs after every progress event the render thread queued: they were scheduled before it.
            rendering.add_done_callback(lambda _: events.put_nowait(None))
            try:
                while (event := await events.get()) is not None:
                    yield event
                rendered = await rendering
            finally:
                if not rendering.done():  # the caller hung up
                    hung_up.set()
                    rendering.cancel()
            execution_ms = round((time.monotonic() - started) * 1000)
            style = style_message(rendered.result.style.as_dict()) if form.prompt.strip() else None
            for message in result_events(rendered.path, execution_ms, rendered.timings, rendered.result.seed,
                                         style):
                yield message
