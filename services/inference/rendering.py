"""One call that renders any form with the engine (blocking: run it in a thread)."""

from __future__ import annotations

from pathlib import Path

from services.engine import media, render
from services.engine.render import Progress, RenderResult, ShapeSource
from services.inference.forms import RenderForm


def render_form(form: RenderForm, paths: dict[str, Path], out: Path, seed: int,
                limits: media.Limits, progress: Progress | None = None,
                shapes_from: ShapeSource = render.model_shapes) -> RenderResult:
    """`shapes_from`: the mouth shapes of each speech track; by default the model in-process."""
    if form.model == "lipsync-video":
        return render.render_video(paths["video"], paths["audio"], out, resolution=form.resolution,
                                   mask_image=paths.get("mask_image"), seed=seed, progress=progress,
                                   limits=limits, shapes_from=shapes_from)
    if form.model == "lipsync-image":
        return render.render_image(paths["image"], paths["audio"], out, resolution=form.resolution,
                                   mask_image=paths.get("mask_image"), seed=seed, progress=progress,
                                   limits=limits, shapes_from=shapes_from)
    if form.model == "lipsync-image-multi":
        return render.render_multi(paths["image"], paths["left_audio"], paths["right_audio"], out,
                                   order=form.order, resolution=form.resolution, seed=seed,
                                   progress=progress, limits=limits, shapes_from=shapes_from)
    raise ValueError(f"unknown model {form.model!r}")
