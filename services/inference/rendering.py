"""One call that renders any form with the engine (blocking: run it in a thread), and the choice
of renderer the settings make.

`Settings.generator` "" keeps the built-in engine. "wav2lip" renders video and image forms with
an operator-exported Wav2Lip-class generator (`lipsync export-generator`), in-process on ONNX
Runtime or, with `Settings.triton_url`, on Triton. Two-person pictures stay on the built-in
engine: the generator path tracks one face. Nothing here ships weights: a generator exported
from random weights (as the tests do) renders noise in the mouth region.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from services.core.settings import Settings
from services.core.vocabulary import Model
from services.engine.generators import wav2lip_render
from services.engine.generators.backend import FrameGenerator
from services.engine.media import av_io as media
from services.engine.render import renderer as render
from services.engine.render.renderer import Progress, RenderResult, ShapeSource
from services.engine.render.style import ALL_CONTROLS, VIDEO_CONTROLS, Style, parse_prompt
from services.inference.forms import RenderForm

GENERATORS = ("", "wav2lip")
GENERATOR_FORMS = (Model.VIDEO, Model.IMAGE)  # what a generator renders


def frame_generator(settings: Settings) -> FrameGenerator | None:
    """The generator the settings select, or None for the built-in engine.

    One per process and configuration (a loaded model is large). An in-process model that is
    missing raises `ModelError` here, so a misconfigured worker fails at start, not per job.
    """
    if settings.generator not in GENERATORS:
        raise ValueError(f"LIPSYNC_GENERATOR must be one of {GENERATORS}, not {settings.generator!r}")
    if not settings.generator:
        return None
    return _generator(settings.generator_model, settings.triton_url)


@lru_cache(maxsize=4)
def _generator(model: str, triton_url: str) -> FrameGenerator:
    if triton_url:
        from services.inference.backends.triton import TritonFrameGenerator

        return TritonFrameGenerator(triton_url, model)
    from services.engine.generators.backend import OnnxFrameGenerator

    return OnnxFrameGenerator(model or None)


def uses_generator(form: RenderForm, generator: FrameGenerator | None) -> bool:
    """Does `generator` render this form (so the mouth-shape model is not needed)?"""
    return generator is not None and form.model in GENERATOR_FORMS


def applied_style(form: RenderForm, generator: FrameGenerator | None = None) -> Style:
    """The style a render of `form` applies: its prompt's words, for the controls this render
    has (dubbing: expressiveness only; an operator's generator: none)."""
    if uses_generator(form, generator):
        return Style()
    return parse_prompt(form.prompt, VIDEO_CONTROLS if form.model == Model.VIDEO else ALL_CONTROLS)


def render_form(form: RenderForm, paths: dict[str, Path], out: Path, seed: int,
                limits: media.Limits, progress: Progress | None = None,
                shapes_from: ShapeSource = render.model_shapes,
                generator: FrameGenerator | None = None) -> RenderResult:
    """`shapes_from`: the mouth shapes of each speech track; by default the model in-process.
    `generator`: an operator's generator for video and image forms (see `frame_generator`).
    The result's `style` is `applied_style(form, generator)`."""
    if uses_generator(form, generator):
        assert generator is not None
        dubbing = form.model == Model.VIDEO
        draw = wav2lip_render.render_video if dubbing else wav2lip_render.render_image
        picture = paths["video"] if dubbing else paths["image"]
        return draw(picture, paths["audio"], out, generator, resolution=form.resolution,
                    mask_image=paths.get("mask_image"), seed=seed, progress=progress, limits=limits)
    style = applied_style(form)
    if form.model == Model.VIDEO:
        return render.render_video(paths["video"], paths["audio"], out, resolution=form.resolution,
                                   mask_image=paths.get("mask_image"), seed=seed, progress=progress,
                                   limits=limits, shapes_from=shapes_from, style=style)
    if form.model == Model.IMAGE:
        return render.render_image(paths["image"], paths["audio"], out, resolution=form.resolution,
                                   mask_image=paths.get("mask_image"), seed=seed, progress=progress,
                                   limits=limits, shapes_from=shapes_from, style=style)
    if form.model == Model.IMAGE_MULTI:
        return render.render_multi(paths["image"], paths["left_audio"], paths["right_audio"], out,
                                   order=form.order, resolution=form.resolution, seed=seed,
                                   progress=progress, limits=limits, shapes_from=shapes_from,
                                   style=style)
    raise ValueError(f"unknown model {form.model!r}")
