"""One render of a form, the same for a queued job (`pipeline.py`) and the direct
`InferenceService.Render` rpc (`servicer.py`): a work directory, the inputs fetched, the mouth
shapes (asked of the model server when there is one), the engine's render in a thread with
progress relayed to the event loop, and the time each stage took.

What differs between the two callers is passed in: what happens once the inputs are on disk
(a job settles its credits and records its seed; the rpc just picks a seed) and where progress
goes (the job's record; the rpc's stream).
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from services.core.settings import Settings
from services.engine.generators.backend import FrameGenerator
from services.engine.media import av_io as media
from services.engine.render.renderer import RenderResult, ShapeSource, StageTimer, model_shapes
from services.inference.forms import RenderForm
from services.inference.inputs import fetch_inputs
from services.inference.progress import ProgressRelay
from services.inference.rendering import render_form, uses_generator
from services.inference.shapes import AsyncMouthModel, precompute

# Called once the inputs are on disk, before anything is rendered; answers the seed to render with.
Prepare = Callable[[dict[str, Path]], Awaitable[int]]


@dataclass(frozen=True)
class Rendered:
    path: Path  # the video, inside the work directory: use it before that closes
    result: RenderResult
    timings: dict[str, float]


@dataclass(frozen=True)
class RenderRunner:
    """What every render in one process shares: settings, decoder limits, where the mouth model
    runs (None: in-process) and an operator's generator (None: the built-in engine)."""

    settings: Settings
    limits: media.Limits
    model: AsyncMouthModel | None
    generator: FrameGenerator | None

    @contextmanager
    def work_dir(self, prefix: str) -> Iterator[Path]:
        work = self.settings.data_dir / "work"
        work.mkdir(parents=True, exist_ok=True)
        # ignore_cleanup_errors: an aborted render thread may still be closing its output.
        with tempfile.TemporaryDirectory(prefix=prefix, dir=work, ignore_cleanup_errors=True) as tmp:
            yield Path(tmp)

    async def render(self, form: RenderForm, tmp: Path, prepare: Prepare, relay: ProgressRelay) -> Rendered:
        timer = StageTimer()
        with timer.stage("download"):
            paths = await fetch_inputs(form, self.settings, tmp)
        seed = await prepare(paths)
        with timer.stage("inference"):
            shapes_from = await self._shapes(form, paths)
        out = tmp / "output.mp4"
        result = await asyncio.to_thread(render_form, form, paths, out, seed, self.limits, relay,
                                         shapes_from, self.generator)
        for stage, ms in result.timings.items():
            timer.add(stage, ms)
        return Rendered(out, result, timer.ms)

    async def _shapes(self, form: RenderForm, paths: dict[str, Path]) -> ShapeSource:
        """In-process, the render runs the model itself; with a model server, ask it now."""
        if self.model is None or uses_generator(form, self.generator):
            return model_shapes
        return await precompute(self.model, form, paths, self.limits)
