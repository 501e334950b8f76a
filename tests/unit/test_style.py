"""The prompt's words -> the engine's style controls: English, Japanese, Arabic, negation, and
everything else ignored."""

from __future__ import annotations

import re

import pytest

from services.engine.render import style as style_module
from services.engine.render.style import VIDEO_CONTROLS, Style, parse_prompt


def test_no_prompt_is_the_default_style() -> None:
    for text in (None, "", "   "):
        assert parse_prompt(text).is_default()
        assert parse_prompt(text).words == ()


@pytest.mark.parametrize("text", [
    "purple elephant on the moon", "4k, cinematic lighting, 50mm lens", "緑の背景で", "في الحديقة",
])
def test_unknown_words_are_ignored(text: str) -> None:
    style = parse_prompt(text)
    assert style.is_default() and style.words == ()


def test_english() -> None:
    style = parse_prompt("Please be very expressive and smiling, and blink more.")
    assert style == Style(expressiveness=1.45, emotion="smiling", blink_rate=1.6)
    assert style.words == ("very expressive", "smiling", "blink more")
    assert parse_prompt("a calm, serious presenter").expressiveness == 0.7
    assert parse_prompt("a calm, serious presenter").emotion == "serious"
    assert parse_prompt("slightly surprised").emotion_strength == 0.5
    assert parse_prompt("big smile").emotion_strength == 1.5
    assert parse_prompt("stay still").still
    assert parse_prompt("less expressive").expressiveness == 0.7


def test_japanese() -> None:
    style = parse_prompt("笑顔で、とても表情豊かに話して")
    assert style == Style(expressiveness=1.45, emotion="smiling")
    assert style.words == ("笑顔", "とても表情豊か")
    assert parse_prompt("真剣な表情で、落ち着いて").emotion == "serious"
    assert parse_prompt("真剣な表情で、落ち着いて").expressiveness == 0.7
    assert parse_prompt("少し驚いた顔").emotion_strength == 0.5
    assert parse_prompt("頭を動かさないで").still
    assert parse_prompt("まばたきを多めに").blink_rate == 1.6
    assert parse_prompt("まばたきが少ない").blink_rate == 0.5
    assert parse_prompt("まばたきしない").blink_rate == 0.0


def test_arabic() -> None:
    style = parse_prompt("مبتسم جدا وبدون حركة")
    assert style == Style(emotion="smiling", emotion_strength=1.5, still=True)
    assert parse_prompt("متحدث هادئ").expressiveness == 0.7


def test_negation_does_not_invent_an_opposite() -> None:
    # "not smiling" leaves the emotion alone; it is not taken to mean "serious".
    assert parse_prompt("not smiling").is_default()
    assert parse_prompt("笑わないで").is_default()
    assert parse_prompt("don't be dramatic").is_default()
    # ...but a negated motion means no motion, and negated blinking no blinks.
    assert parse_prompt("no head movement").still
    assert parse_prompt("without blinking").blink_rate == 0.0
    # The negation ends with its clause.
    assert parse_prompt("not dramatic, but smiling").emotion == "smiling"
    # "still" as an adverb is not a request for stillness.
    assert not parse_prompt("still smiling").still


def test_blink_words_need_a_qualifier() -> None:
    assert parse_prompt("natural blinking").blink_rate == 1.0
    assert parse_prompt("blink less").blink_rate == 0.5
    assert parse_prompt("sleepy").blink_rate == 1.6


def test_the_last_emotion_wins_and_expressiveness_is_clamped() -> None:
    assert parse_prompt("serious, then happy").emotion == "smiling"
    assert parse_prompt("very dramatic, extremely animated, vivid and lively").expressiveness == 1.5
    assert parse_prompt("calm quiet subtle gentle restrained").expressiveness == 0.5


def test_same_prompt_same_style() -> None:
    text = "smiling, lively, blink more, 笑顔, still"
    assert parse_prompt(text) == parse_prompt(text)
    assert parse_prompt(text).words == parse_prompt(text).words
    assert Style.from_dict(parse_prompt(text).as_dict()) == parse_prompt(text)


def test_video_controls_report_only_what_dubbing_applies() -> None:
    style = parse_prompt("smiling, very expressive, still, blink more", VIDEO_CONTROLS)
    assert style == Style(expressiveness=1.45)
    assert style.words == ("very expressive",)


def test_every_word_of_the_tables_is_documented() -> None:
    doc = style_module.__doc__ or ""
    words = [*style_module.ENGLISH, *style_module.JAPANESE, *style_module.ARABIC,
             *style_module.EN_STRONGER, *style_module.EN_WEAKER, *style_module.JA_STRONGER,
             *style_module.JA_WEAKER]
    missing = [w for w in words
               if not (re.search(rf"\b{w}\b", doc) if w.isascii() else w in doc)]
    assert not missing


def test_a_render_applies_what_its_mode_has() -> None:
    from services.inference.forms import RenderForm
    from services.inference.rendering import applied_style

    prompt = {"prompt": "smiling, very expressive, still"}
    image = RenderForm.from_mapping("lipsync-image", prompt)
    assert image.prompt == "smiling, very expressive, still"
    assert applied_style(image) == Style(expressiveness=1.45, emotion="smiling", still=True)
    video = applied_style(RenderForm.from_mapping("lipsync-video", prompt))
    assert video == Style(expressiveness=1.45) and video.words == ("very expressive",)
    assert applied_style(RenderForm.from_mapping("lipsync-image-multi", {})).is_default()
