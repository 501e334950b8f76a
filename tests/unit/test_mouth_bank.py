"""Dubbing reuses the speaker's own mouth (Video Rewrite's idea): the whole source is indexed
before the render, the borrowed interior is brought to the target frame's light, and the
choice holds and crossfades rather than flickers; one opening shows one patch."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from services.devtools import samples
from services.engine.faces import face_boxes as faces
from services.engine.media import av_io as media
from services.engine.media import speech
from services.engine.render import renderer as render
from services.engine.render.animator import FaceAnimator
from services.engine.render.mouth_bank import (
    CROSSFADE,
    PATCH_ROWS,
    PATCH_WIDTH,
    MouthBank,
    Patch,
    cut_patch,
    lip_rows,
    opening_reach,
    soft_corners,
)
from services.engine.render.mouth_interior import InteriorPalette, paint_interior
from services.engine.render.mouth_warp import MAX_GAP, MouthFrame, MouthShapeFrame, MouthWarper, lab

SIZE = (480, 562)  # the 480p output size of the Grace Hopper sample
QUIET = 15  # source frames before its speaker first opens her mouth
FRAMES = 50


def _source_shapes(_audio: np.ndarray, frames: int) -> np.ndarray:
    """Closed for QUIET frames, then opening and closing like speech."""
    t = np.arange(frames, dtype=np.float32)
    open_ = np.where(t < QUIET, 0.0, 0.55 + 0.4 * np.sin((t - QUIET) * 0.7)).astype(np.float32)
    return np.stack([open_, np.full(frames, 0.45, np.float32), np.zeros(frames, np.float32)], axis=1)


def _dub_shapes(_audio: np.ndarray, frames: int) -> np.ndarray:
    """Other speech: open from the third frame on."""
    t = np.arange(frames, dtype=np.float32)
    open_ = np.where(t < 2, 0.0, 0.5 + 0.3 * np.cos(t * 0.45)).astype(np.float32)
    return np.stack([open_, np.full(frames, 0.45, np.float32), np.zeros(frames, np.float32)], axis=1)


@pytest.fixture(scope="module")
def talking(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A source video of a person who really talks (the engine's own image render) and speech."""
    folder = tmp_path_factory.mktemp("bank")
    said = speech.synthesize("Maybe we can meet at nine, or at ten.", rate=170)
    audio = np.resize(said.audio, int(FRAMES / media.FPS * said.sample_rate))
    speech.save_wav(folder / "speech.wav", audio, said.sample_rate)
    samples.save_image(folder / "face.png", samples.grace_hopper())
    render.render_image(folder / "face.png", folder / "speech.wav", folder / "source.mp4", seed=1,
                        shapes_from=_source_shapes)
    return {"speech": folder / "speech.wav", "video": folder / "source.mp4"}


@pytest.mark.parametrize("kept", [True, False], ids=["frames-kept", "decoded-twice"])
def test_the_first_open_frames_of_a_dub_reuse_interiors_from_later_in_the_source(
        talking: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kept: bool) -> None:
    if not kept:  # a source too long to keep: the render pass decodes it again
        monkeypatch.setattr(render, "KEEP_FRAMES_BYTES", 0)
    choices: list[tuple[float, tuple[Patch, float] | None]] = []
    choose = MouthBank.choose

    def spy(bank: MouthBank, target_gap: float, light: np.ndarray | None = None,
            reach: float | None = None) -> tuple[Patch, float] | None:
        got = choose(bank, target_gap, light, reach)
        choices.append((target_gap, got))
        return got

    monkeypatch.setattr(MouthBank, "choose", spy)
    render.render_video(talking["video"], talking["speech"], tmp_path / "dub.mp4", seed=1,
                        shapes_from=_dub_shapes)
    assert len(choices) == FRAMES  # one choice per output frame
    # The dub opens at frame 2, long before the source first opens (frame QUIET): the interior
    # shown then comes from a source frame not yet shown, at full weight.
    first = next(i for i, (gap, _) in enumerate(choices) if gap > 0.5 * MAX_GAP)
    assert first < QUIET
    got = choices[first][1]
    assert got is not None
    patch, weight = got
    assert patch.frame >= QUIET and weight == 1.0
    used = [c[1] for c in choices[first:] if c[0] > 0.5 * MAX_GAP]
    assert all(u is not None and u[1] == 1.0 for u in used)


def _index(video: Path) -> tuple[object, dict[int, np.ndarray | None], MouthBank]:
    return render._index_source(media.iter_video_frames(video, SIZE, FRAMES), None)


def test_indexing_is_deterministic_and_bounded(talking: dict[str, Path]) -> None:
    banks = []
    for _ in range(2):
        tracker, known, bank = _index(talking["video"])
        assert tracker is not None and len(known) == FRAMES and bank.seen == FRAMES
        banks.append(bank)
    a, b = banks
    assert [p.frame for p in a.patches] == [p.frame for p in b.patches]
    assert a.patches and all(p.frame >= QUIET for p in a.patches)
    assert len(a.patches) <= 3 * len(a.bands)
    gaps = 0.5 + 0.3 * np.cos(np.arange(40) * 0.45)
    light = np.array([0.3, 0.2, 0.15], np.float32)  # linear RGB of the skin around the lips
    for gap in gaps:
        pa, pb = a.choose(MAX_GAP * gap, light), b.choose(MAX_GAP * gap, light)
        assert pa is not None and pb is not None
        assert pa[0].frame == pb[0].frame and np.array_equal(pa[0].pixels, pb[0].pixels)


def test_the_choice_holds_while_it_fits_and_crossfades_when_it_changes(talking: dict[str, Path]) -> None:
    _, _, bank = _index(talking["video"])
    rng = np.random.default_rng(0)
    # A held opening with the small jitter of a real track: one patch all along.
    held = [bank.choose(MAX_GAP * (0.35 + 0.02 * rng.standard_normal())) for _ in range(20)]
    assert len({h[0].frame for h in held if h is not None}) == 1
    # A much wider opening (the widest the source showed) asks for another patch: it blends in
    # over CROSSFADE frames.
    before = held[-1]
    assert before is not None
    widest = max(p.gap for p in bank.patches)
    assert widest - before[0].gap > 0.15
    wide = [bank.choose(widest) for _ in range(CROSSFADE + 1)]
    assert all(w is not None for w in wide)
    new = wide[-1]
    assert new is not None and new[0].frame != before[0].frame
    first = wide[0]
    assert first is not None
    # The first frame after the change lies between the old patch and the new one.
    old_px, new_px, mid_px = before[0].pixels, new[0].pixels, first[0].pixels
    assert np.abs(mid_px - old_px).mean() < np.abs(new_px - old_px).mean()
    assert np.abs(mid_px - new_px).mean() < np.abs(new_px - old_px).mean()


def _relit(image: np.ndarray, gain: tuple[float, float, float]) -> np.ndarray:
    linear = (image.astype(np.float32) / 255) ** 2.2 * np.array(gain, np.float32)
    return np.clip(linear ** (1 / 2.2) * 255, 0, 255).astype(np.uint8)


def _lab_mean(pixels: np.ndarray) -> np.ndarray:
    lab = cv2.cvtColor(pixels.reshape(1, -1, 3).astype(np.float32) / 255, cv2.COLOR_RGB2Lab)
    return lab.reshape(-1, 3).mean(axis=0)


def test_an_interior_from_a_differently_lit_source_takes_the_target_frames_light() -> None:
    # The astronaut photo shows her real teeth; a source under dimmer, warmer light lends them.
    image = samples.astronaut()
    (face,) = faces.select_faces(image)
    frame = MouthFrame.from_landmarks(face.landmarks, image)  # as the renderer reads it
    # Her opening reads 0.25 half mouth widths (her lips' edges, not the mesh's lines), and a
    # patch serves openings up to 1 / 0.6 of its own.
    shape = MouthShapeFrame(0.65, 0.45, 0.0)

    def dub(source: np.ndarray | None, relight: bool = True) -> np.ndarray:
        out = image.copy()
        if source is None:  # painted only
            FaceAnimator(image, face.landmarks, video=True).render(image, out, shape)
            return out
        bank = MouthBank(indexed=True)
        bank.observe(source, frame)
        assert bank.patches
        if not relight:
            for p in bank.patches:
                p.light = None
        FaceAnimator(image, face.landmarks, video=True, bank=bank).render(image, out, shape)
        return out

    own_render = dub(image)
    reused = np.any(np.abs(own_render.astype(int) - dub(None)) > 6, axis=2)  # where the bank shows
    assert reused.sum() > 100
    shifted = _relit(image, (0.65, 0.55, 0.45))  # dimmer and warmer
    own = _lab_mean(own_render[reused])
    matched = _lab_mean(dub(shifted)[reused])
    pasted = _lab_mean(dub(shifted, relight=False)[reused])
    # Relit, the borrowed interior's mean colour is the one the target's own light gives it.
    assert np.linalg.norm(matched - own) < 1.5
    # Pasted as it was, it would be far off.
    assert np.linalg.norm(pasted - own) > 10.0


def test_a_mouth_the_mesh_reads_open_while_the_lips_touch_lends_nothing() -> None:
    image = samples.astronaut()
    (face,) = faces.select_faces(image)
    frame = MouthFrame.from_landmarks(face.landmarks)
    # Her opening (real teeth) painted over with the colour of her lips, landmarks unchanged.
    lips_only = image.copy()
    s = np.linspace(-1, 1, 200, dtype=np.float32)
    upper = np.interp(s, frame.upper_s, frame.upper_t).astype(np.float32)
    lower = np.interp(s, frame.lower_s, frame.lower_t).astype(np.float32)
    xs, ys = frame.to_image(np.concatenate([s, s[::-1]]), np.concatenate([upper, lower[::-1]]))
    lip_x, lip_y = frame.to_image(np.zeros(1, np.float32), upper[100:101] - 0.08)
    lip = image[int(lip_y[0]), int(lip_x[0])]
    cv2.fillPoly(lips_only, [np.stack([xs, ys], axis=1).round().astype(np.int32)], lip.tolist())
    bank = MouthBank(indexed=True)
    bank.observe(lips_only, frame)
    assert not bank.patches
    bank.observe(image, frame)
    assert bank.patches


def test_an_opening_shows_one_patch_chosen_for_its_widest_and_changes_where_the_lips_meet(
        talking: dict[str, Path]) -> None:
    _, _, bank = _index(talking["video"])
    gaps = [p.gap for p in bank.patches]
    assert max(gaps) - min(gaps) > 0.15  # patches for small and wide openings
    # Two openings of speech: one that starts small and ends as wide as the source ever was,
    # then, after the lips meet, a small one.
    wide = np.concatenate([np.linspace(0.2, 1.0, 8) * max(gaps), np.zeros(2)])
    small = np.concatenate([np.full(6, min(gaps)), np.zeros(1)])
    track = np.concatenate([wide, small]).astype(np.float32)
    reach = opening_reach(track)
    assert np.allclose(reach[:8], max(gaps)) and np.allclose(reach[10:16], min(gaps))
    assert not reach[8:10].any() and reach[16] == 0
    chosen = [bank.choose(float(g), None, float(r)) for g, r in zip(track, reach, strict=True)]
    first = {c[0].frame for c in chosen[:8] if c is not None}
    second = {c[0].frame for c in chosen[10:16] if c is not None}
    # One patch the whole first opening, from its first small frames on: none crossfaded in
    # mid opening (a blend of two frames' teeth shows grey ghosts).
    assert len(first) == 1 and len(second) == 1 and first != second
    wide_patch = next(p for p in bank.patches if p.frame in first)
    assert wide_patch.gap >= max(gaps) - 0.1
    # The change where the lips met is a cut: the next opening's patch is shown as it is.
    shown = chosen[10]
    assert shown is not None
    own = next(p for p in bank.patches if p.frame in second)
    assert np.array_equal(shown[0].valid, own.valid)


def test_a_patch_starts_under_the_lip_left_above_the_teeth() -> None:
    rows = np.full((PATCH_ROWS, PATCH_WIDTH, 3), 40.0, np.float32)  # the cavity
    lip, line, teeth = (200.0, 150.0, 150.0), (120.0, 70.0, 70.0), (240.0, 238.0, 230.0)
    # Teeth right under the lip line: nothing to cut.
    rows[:8] = teeth
    assert lip_rows(rows) == 0
    # Three rows of a pale lip, a dark line under it, then the teeth: cut at the dark line.
    with_lip = rows.copy()
    with_lip[:3], with_lip[3], with_lip[4:12] = lip, line, teeth
    assert lip_rows(with_lip) == 3
    # Teeth shaded under the lip (darker at the top, brighter down): nothing to cut.
    shaded = rows.copy()
    shaded[:8] = np.linspace(150, 240, 8)[:, None, None]
    assert lip_rows(shaded) == 0


def test_a_patch_does_not_carry_the_red_edge_of_the_lip_above_the_teeth() -> None:
    # A source frame whose upper lip's red edge reaches a few pixels below the mesh's inner lip,
    # straight onto the teeth (no dark line between them, so `lip_rows` sees no lip): the patch
    # starts on the teeth, or under the dub's own upper lip it draws a red line over them.
    image = samples.astronaut()
    (face,) = faces.select_faces(image)
    mouth = MouthFrame.from_landmarks(face.landmarks)
    gy, gx = np.mgrid[0:image.shape[0], 0:image.shape[1]].astype(np.float32)
    s, t = mouth.to_local(gx, gy)
    below = t - np.interp(s, mouth.upper_s, mouth.upper_t)
    frame = image.copy()
    inside = (np.abs(s) < 1.0) & (below >= -0.02)
    frame[inside & (below < 0.3)] = (235, 232, 224)  # teeth
    frame[inside & (below >= 0.3)] = (60, 25, 25)  # the cavity
    frame[inside & (below < 0.06)] = (190, 70, 80)  # the lip's red edge, 3 px at this size
    frame = cv2.GaussianBlur(frame, (0, 0), 0.8)  # a camera's softness

    patch = cut_patch(frame, mouth)
    middle = np.abs(np.linspace(-1.0, 1.0, PATCH_WIDTH)) <= 0.5
    top = lab(patch.pixels[0, middle])
    assert np.median(top[:, 1]) < 10  # not red: a* of the teeth, not of the lip
    assert np.median(top[:, 0]) > 80  # and as light as teeth
    assert patch.gap < mouth.source_gap() - 0.04  # the opening it lends starts at the teeth


def test_a_borrowed_interior_does_not_lie_against_the_lower_lip() -> None:
    # A patch of pure black (the dark middle of a source's cavity) laid into an opening: it shows
    # in the opening, but the last pixel over the target's lower lip is the lip's own lining,
    # or the dub's openings get a hard dark line along the lower lip.
    image = samples.astronaut()
    (face,) = faces.select_faces(image)
    frame = MouthFrame.from_landmarks(face.landmarks)
    box = frame.lips_roi((image.shape[1], image.shape[0]))
    gx, gy = np.meshgrid(np.arange(box[0], box[2], dtype=np.float32),
                         np.arange(box[1], box[3], dtype=np.float32))
    warp = MouthWarper(frame, gx, gy).warp(MouthShapeFrame(1.0, 0.45, 0.0))
    black = Patch(0.5, np.zeros((PATCH_ROWS, PATCH_WIDTH, 3), np.float32),
                  np.ones((PATCH_ROWS, PATCH_WIDTH), np.float32))
    palette = InteriorPalette.from_face(image, face.landmarks)

    block = image[box[1]:box[3], box[0]:box[2]].copy()
    paint_interior(block, warp, palette, 2 * frame.half_width, reuse=(black, 1.0))
    dubbed = block.astype(np.float32).mean(axis=2)
    px = frame.half_width
    inside = (warp.interior_alpha >= 1.0) & (np.abs(warp.s) < 0.7)
    middle = inside & (warp.t - warp.new_upper > 0.1) & ((warp.new_lower - warp.t) * px > 6)
    on_lip = inside & ((warp.new_lower - warp.t) * px < 1.0)
    assert middle.sum() > 20 and on_lip.sum() > 10
    assert dubbed[middle].mean() < 5  # the patch shows
    lining = float(palette.mucosa.mean())
    assert dubbed[on_lip].mean() > 0.7 * lining  # the lip's lining, not the patch's black


def test_a_patch_is_soft_towards_the_corners_and_sharp_in_the_middle() -> None:
    # Dark dots on a lit ground (the creases and lip texture where a source's lips meet at its
    # corners): at the corners they blur into a shadow, in the middle (the teeth) nothing moves.
    rng = np.random.default_rng(0)
    pixels = np.where(rng.random((PATCH_ROWS, PATCH_WIDTH, 1)) < 0.2, 30.0, 200.0)
    pixels = np.repeat(pixels, 3, axis=2).astype(np.float32)
    soft = soft_corners(pixels)
    s = np.abs(np.linspace(-1.0, 1.0, PATCH_WIDTH))
    middle, corners = s < 0.45, s > 0.85
    assert np.array_equal(soft[:, middle], pixels[:, middle])
    assert soft[:, corners].std() < 0.5 * pixels[:, corners].std()
    assert abs(soft[:, corners].mean() - pixels[:, corners].mean()) < 5  # as dark on the whole
