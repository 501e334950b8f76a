"""Style from the prompt: the words of a job's `prompt` that the engine can act on.

The public API calls `prompt` "style instruction text". The engine has no text model; what it
can honestly do is read a fixed table of words (English, Japanese, Arabic) and turn them into
the few controls it really has. Everything else in the prompt is ignored, and the style that
was applied, with the words that set it, is recorded on the job so a user sees what the prompt
did. The same prompt always gives the same `Style`, so the same seed and prompt give the same
video.

Controls (what each one changes is in `services/engine/render/expression.py` and `idle_motion.py`):

- `expressiveness` (0.5-1.5, default 1): mouth amplitude (opening, spread, rounding) and, for a
  still portrait, head sway and nods. Each word steps it by 0.3 (a modifier scales the step);
  steps add up and are clamped.
- `emotion` (`neutral`, `smiling`, `serious`, `surprised`) and `emotion_strength` (0.5-1.5):
  a still portrait's resting expression. Smiling: mouth corners up and out, lower lids a little
  up. Serious: corners a little down, brows lower and drawn in. Surprised: brows up, eyes wider,
  the mouth opens more when speaking. The last emotion word wins.
- `blink_rate` (0-2, multiplier of the resting rate, a blink every 2-6 s): "blink more" 1.6,
  "blink less" 0.5, "don't blink" 0. Blink words count only with such a qualifier.
- `still`: no head motion at all.

Dubbing a video (`lipsync-video`) keeps the speaker's own face, head and blinks: only
`expressiveness` (mouth amplitude) applies, and only its words are reported
(`parse_prompt(text, VIDEO_CONTROLS)`).

The words (English: whole words, any case; Japanese: found inside the text; Arabic: whole words,
also with و، ف، ب، ال in front):

- expressiveness up: expressive, animated, lively, energetic, enthusiastic, excited, dynamic,
  dramatic, exaggerated, vivid, passionate, emphatic, vigorous, theatrical, bold;
  表情豊か, 生き生き, いきいき, 元気, 大げさ, 大袈裟, 活発, 情熱的, ダイナミック, エネルギッシュ,
  大きく, はきはき, ハキハキ; معبر, معبرة, حيوي, حيوية, متحمس, متحمسة, نشيط, نشيطة.
- expressiveness down: subtle, calm, calmly, gentle, gently, soft, softly, quiet, quietly,
  restrained, relaxed, reserved, subdued, minimal, understated, mellow, muted, composed;
  控えめ, 穏やか, おだやか, 落ち着, 静か, 淡々, 小さく; هادئ, هادئة, هدوء, رصين, رصينة.
- smiling: smile, smiles, smiling, smiled, smiley, grin, grinning, happy, happily, cheerful,
  cheery, joyful, joyous, glad, friendly, warm, pleased, delighted; 笑顔, 笑, 微笑, ほほえ,
  にこにこ, ニコニコ, にっこり, ニッコリ, 嬉し, うれし, 楽し, 幸せ, 明るい, スマイル;
  مبتسم, مبتسمة, ابتسامة, ابتسم, سعيد, سعيدة, مبتهج, مبتهجة, مرح, مرحة.
- serious: serious, seriously, stern, grave, solemn, strict, earnest, severe, frown, frowning,
  grim; 真剣, 真面目, まじめ, 厳し, 厳粛, 険し, 深刻, シリアス;
  جاد, جادة, جدي, جدية, صارم, صارمة, عابس, عابسة.
- surprised: surprised, surprise, amazed, astonished, shocked, startled, stunned, awed;
  驚, びっくり, ビックリ; مندهش, مندهشة, متفاجئ, متفاجئة, دهشة, مذهول, مذهولة.
- neutral: neutral, expressionless, deadpan; 無表情, 真顔, ニュートラル; محايد, محايدة.
- still: still, static, motionless, stationary; 静止, 固定, じっと; ثابت, ثابتة, ساكن, ساكنة;
  and a negated move word: move, moves, moving, movement, movements, motion, sway, swaying,
  nod, nodding, nods, bob, bobbing ("no head movement", "don't move"); 動か, 動き, 揺れ, 揺ら
  (動かない, 動きなし); حركة, حركات, تحرك, يتحرك (بدون حركة).
- blinks: blink, blinks, blinking; まばたき, 瞬き; رمش, رمشة, يرمش, رمشات; with a qualifier
  near them: more (more, often, frequently, frequent, lots, lot; 多, よく, 頻繁; أكثر, كثير,
  كثيرا), less (less, fewer, rarely, seldom, rare; 少な, 控え; أقل, قليل) or a negation (none).
  Also sleepy, drowsy, tired (more) and staring, unblinking (none).
- stronger (x1.5), before the word: very, really, extremely, super, highly, so, more, much,
  big, broad, wide; とても, すごく, 凄く, かなり, 非常に, もっと; after it: جدا, للغاية.
- weaker (x0.5), before the word: slightly, somewhat, mildly, little, bit, small, faint;
  少し, ちょっと, やや, 少々, 軽く, ほんのり; after it: قليلا. "less" before an
  expressiveness word makes its step the opposite one ("less expressive").

Negation: an English or Arabic word within three words after not, no, never, without, don't
(any n't), nor, or Arabic لا، لم، لن، ليس، غير، بدون، دون، بلا, in the same clause (a comma,
full stop or "but" ends it), and a Japanese word followed closely by ない, なし, 無し, ず or
ません, is not applied ("not smiling" leaves the emotion alone: it does not mean serious),
except move words, which then mean `still`, and blink words, which then mean no blinks.
"still" followed by a word ending in -ing or -ed ("still smiling") is the adverb and ignored.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

EMOTIONS = ("neutral", "smiling", "serious", "surprised")
EXPRESSIVENESS_RANGE = (0.5, 1.5)
STRENGTH_RANGE = (0.5, 1.5)
BLINK_RANGE = (0.0, 2.0)
EXPRESSIVENESS_STEP = 0.3
BLINK_MORE, BLINK_LESS = 1.6, 0.5
STRONGER, WEAKER = 1.5, 0.5

ALL_CONTROLS = frozenset({"expressiveness", "emotion", "blink", "still"})
VIDEO_CONTROLS = frozenset({"expressiveness"})  # what dubbing a video can apply


@dataclass(frozen=True)
class Style:
    expressiveness: float = 1.0
    emotion: str = "neutral"
    emotion_strength: float = 1.0
    blink_rate: float = 1.0
    still: bool = False
    words: tuple[str, ...] = field(default=(), compare=False)  # the prompt's words that set it

    def is_default(self) -> bool:
        return self == Style()

    def as_dict(self) -> dict[str, Any]:
        """The public JSON form (the job object's `style`)."""
        return {"expressiveness": self.expressiveness, "emotion": self.emotion,
                "emotionStrength": self.emotion_strength, "blinkRate": self.blink_rate,
                "still": self.still, "words": list(self.words)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Style:
        return cls(float(data.get("expressiveness", 1.0)), str(data.get("emotion", "neutral")),
                   float(data.get("emotionStrength", 1.0)), float(data.get("blinkRate", 1.0)),
                   bool(data.get("still", False)), tuple(str(w) for w in data.get("words", ())))


# What a word does: (control, value). Controls: "expr" (+1 / -1 steps), "emotion" (a preset),
# "still", "move" (only negated: still), "blink" (needs a qualifier), "blink_more",
# "blink_none".
Effect = tuple[str, Any]


def _table(**groups: tuple[Effect, str]) -> dict[str, Effect]:
    return {word: effect for effect, words in groups.values() for word in words.split()}


ENGLISH = _table(
    up=(("expr", 1), "expressive animated lively energetic enthusiastic excited dynamic dramatic "
        "exaggerated vivid passionate emphatic vigorous theatrical bold"),
    down=(("expr", -1), "subtle calm calmly gentle gently soft softly quiet quietly restrained "
          "relaxed reserved subdued minimal understated mellow muted composed"),
    smiling=(("emotion", "smiling"), "smile smiles smiling smiled smiley grin grinning happy happily "
             "cheerful cheery joyful joyous glad friendly warm pleased delighted"),
    serious=(("emotion", "serious"), "serious seriously stern grave solemn strict earnest severe "
             "frown frowning grim"),
    surprised=(("emotion", "surprised"), "surprised surprise amazed astonished shocked startled "
               "stunned awed"),
    neutral=(("emotion", "neutral"), "neutral expressionless deadpan"),
    still=(("still", True), "still static motionless stationary"),
    move=(("move", True), "move moves moving movement movements motion sway swaying nod nodding "
          "nods bob bobbing"),
    blink=(("blink", True), "blink blinks blinking"),
    sleepy=(("blink_more", True), "sleepy drowsy tired"),
    staring=(("blink_none", True), "staring unblinking"),
)
EN_STRONGER = frozenset(["very", "really", "extremely", "super", "highly", "so", "more", "much",
                         "big", "broad", "wide"])
EN_WEAKER = frozenset(["slightly", "somewhat", "mildly", "little", "bit", "small", "faint"])
EN_NEGATORS = frozenset(["not", "no", "never", "without", "nor", "neither", "dont", "cant", "wont"])
EN_BLINK_MORE = frozenset(["more", "often", "frequently", "frequent", "lots", "lot"])
EN_BLINK_LESS = frozenset(["less", "fewer", "rarely", "seldom", "rare"])
EN_CLAUSE_BREAK = frozenset({"but"})

ARABIC = _table(
    up=(("expr", 1), "معبر معبرة حيوي حيوية متحمس متحمسة نشيط نشيطة"),
    down=(("expr", -1), "هادئ هادئة هدوء رصين رصينة"),
    smiling=(("emotion", "smiling"), "مبتسم مبتسمة ابتسامة ابتسم سعيد سعيدة مبتهج مبتهجة مرح مرحة"),
    serious=(("emotion", "serious"), "جاد جادة جدي جدية صارم صارمة عابس عابسة"),
    surprised=(("emotion", "surprised"), "مندهش مندهشة متفاجئ متفاجئة دهشة مذهول مذهولة"),
    neutral=(("emotion", "neutral"), "محايد محايدة"),
    still=(("still", True), "ثابت ثابتة ساكن ساكنة"),
    move=(("move", True), "حركة حركات تحرك يتحرك"),
    blink=(("blink", True), "رمش رمشة يرمش رمشات"),
)
AR_STRONGER_AFTER = frozenset({"جدا", "جداً", "للغاية"})
AR_WEAKER_AFTER = frozenset({"قليلا", "قليلاً"})
AR_NEGATORS = frozenset({"لا", "لم", "لن", "ليس", "غير", "بدون", "دون", "بلا"})
AR_BLINK_MORE = frozenset({"أكثر", "كثير", "كثيرا", "كثيراً"})
AR_BLINK_LESS = frozenset({"أقل", "قليل"})
AR_PREFIXES = ("وال", "بال", "فال", "ال", "و", "ف", "ب")

JAPANESE: dict[str, Effect] = _table(
    up=(("expr", 1), "表情豊か 生き生き いきいき 元気 大げさ 大袈裟 活発 情熱的 ダイナミック "
        "エネルギッシュ 大きく はきはき ハキハキ"),
    down=(("expr", -1), "控えめ 穏やか おだやか 落ち着 静か 淡々 小さく"),
    smiling=(("emotion", "smiling"), "笑顔 笑 微笑 ほほえ にこにこ ニコニコ にっこり ニッコリ 嬉し "
             "うれし 楽し 幸せ 明るい スマイル"),
    serious=(("emotion", "serious"), "真剣 真面目 まじめ 厳し 厳粛 険し 深刻 シリアス"),
    surprised=(("emotion", "surprised"), "驚 びっくり ビックリ"),
    neutral=(("emotion", "neutral"), "無表情 真顔 ニュートラル"),
    still=(("still", True), "静止 固定 じっと"),
    move=(("move", True), "動か 動き 揺れ 揺ら"),
    blink=(("blink", True), "まばたき 瞬き"),
)
JA_STRONGER = ("とても", "すごく", "凄く", "かなり", "非常に", "もっと")
JA_WEAKER = ("少し", "ちょっと", "やや", "少々", "軽く", "ほんのり")
JA_NEGATION = re.compile(r"[^、。，．,.!?！？\s]{0,3}?(?<!少)(ない|なし|無し|ず|ません)")
JA_BLINK_MORE = re.compile(r"多|よく|頻繁")
JA_BLINK_LESS = re.compile(r"少な|控え")
_JA_WORDS = sorted(JAPANESE, key=len, reverse=True)
_JAPANESE_CHAR = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
_TOKEN = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?|[,.;:!?、。，．！？\n]")


@dataclass
class _Match:
    effect: Effect
    start: int
    end: int
    scale: float = 1.0
    negated: bool = False
    blink: str = ""  # a blink word's qualifier: more, less, none


def parse_prompt(text: str | None, controls: Iterable[str] = ALL_CONTROLS) -> Style:
    """The style the words of `text` ask for, using only `controls` (a subset of ALL_CONTROLS);
    unknown words, and words for other controls, are ignored."""
    if not text or not text.strip():
        return Style()
    text = unicodedata.normalize("NFKC", text)
    matches = sorted(_latin_and_arabic(text) + _japanese(text), key=lambda m: m.start)
    return _fold(text, matches, frozenset(controls))


def _latin_and_arabic(text: str) -> list[_Match]:
    tokens = [(m.group().lower().replace("’", "'"), m.start(), m.end()) for m in _TOKEN.finditer(text)
              if not _JAPANESE_CHAR.search(m.group())]
    matches: list[_Match] = []
    negate_left = 0  # words a negator still reaches
    negator_at = -1
    modifier: tuple[float, int] | None = None  # (scale, start) of a pending English modifier
    for i, (word, start, end) in enumerate(tokens):
        if (len(word) == 1 and not word.isalpha()) or word in EN_CLAUSE_BREAK:
            negate_left, modifier = 0, None
            continue
        bare = word.replace("'", "")
        if bare in EN_NEGATORS or word.endswith("n't") or word in AR_NEGATORS \
                or (word[:1] in "وف" and word[1:] in AR_NEGATORS):
            negate_left, negator_at = 3, start
            continue
        if word in AR_STRONGER_AFTER | AR_WEAKER_AFTER:
            if matches and matches[-1].end >= tokens[i - 1][2]:
                matches[-1].scale *= STRONGER if word in AR_STRONGER_AFTER else WEAKER
                matches[-1].end = end
            continue
        if word == "less" and i + 1 < len(tokens) and ENGLISH.get(tokens[i + 1][0], ("",))[0] == "expr":
            modifier = (-1.0, start)
            continue
        if word in EN_STRONGER or word in EN_WEAKER:
            scale = STRONGER if word in EN_STRONGER else WEAKER
            modifier = (scale * (modifier[0] if modifier else 1.0), modifier[1] if modifier else start)
            continue
        effect = ENGLISH.get(bare) or ARABIC.get(word) or _arabic_stem(word)
        if effect is None:
            negate_left = max(negate_left - 1, 0)
            modifier = None
            continue
        if effect[0] == "still" and bare == "still" and i + 1 < len(tokens) \
                and tokens[i + 1][0].endswith(("ing", "ed")):
            continue  # "still smiling": the adverb
        match = _Match(effect, start, end)
        if modifier is not None:
            match.scale, match.start = modifier
            modifier = None
        if effect[0] == "blink":
            match.scale = 1.0  # "more blinking": the qualifier says how much
        if negate_left > 0:
            match.negated, match.start = True, min(match.start, negator_at)
            negate_left = 0
        if effect[0] == "blink" and not match.negated:
            near = tokens[max(0, i - 2):i + 3]
            match.blink, where = _blink_qualifier([t[0] for t in near])
            if where >= 0:
                match.start = min(match.start, near[where][1])
                match.end = max(match.end, near[where][2])
        matches.append(match)
    return matches


def _arabic_stem(word: str) -> Effect | None:
    for prefix in AR_PREFIXES:
        if word.startswith(prefix) and word[len(prefix):] in ARABIC:
            return ARABIC[word[len(prefix):]]
    return None


def _blink_qualifier(near: list[str]) -> tuple[str, int]:
    """"more", "less" or "", and where in `near` the word saying so is (-1: nowhere)."""
    for index, word in enumerate(near):
        if word in EN_BLINK_MORE or word in AR_BLINK_MORE:
            return "more", index
        if word in EN_BLINK_LESS or word in AR_BLINK_LESS:
            return "less", index
    return "", -1


def _japanese(text: str) -> list[_Match]:
    matches: list[_Match] = []
    i = 0
    last_end = 0
    while i < len(text):
        word = next((w for w in _JA_WORDS if text.startswith(w, i)), None)
        if word is None:
            i += 1
            continue
        end = i + len(word)
        match = _Match(JAPANESE[word], i, end)
        before = text[max(last_end, i - 4):i]
        for words, scale in ((JA_STRONGER, STRONGER), (JA_WEAKER, WEAKER)):
            found = next((w for w in words if w in before), None)
            if found is not None:
                match.scale, match.start = scale, text.rindex(found, 0, i)
        after = text[end:end + 6]
        negation = JA_NEGATION.match(after)
        if negation is not None:
            match.negated, match.end = True, end + negation.end()
        elif match.effect[0] == "blink":
            for pattern, qualifier in ((JA_BLINK_MORE, "more"), (JA_BLINK_LESS, "less")):
                hit = pattern.search(after[:4])
                if hit is not None and not match.blink:
                    match.blink, match.end = qualifier, end + hit.end()
                if pattern.search(text[max(last_end, i - 4):i]) and not match.blink:
                    match.blink = qualifier
        matches.append(match)
        i = last_end = match.end
    return matches


def _fold(text: str, matches: list[_Match], controls: frozenset[str]) -> Style:
    style = Style()
    steps = 0.0
    words: list[str] = []
    for m in matches:
        kind, value = m.effect
        changes: dict[str, Any] = {}
        if kind == "expr" and not m.negated and "expressiveness" in controls:
            steps += value * m.scale
        elif kind == "emotion" and not m.negated and "emotion" in controls:
            strength = 1.0 if value == "neutral" else _clamp(m.scale, *STRENGTH_RANGE)
            changes = {"emotion": value, "emotion_strength": strength}
        elif ((kind == "still" and not m.negated) or (kind == "move" and m.negated)) and "still" in controls:
            changes = {"still": True}
        elif kind in ("blink", "blink_more", "blink_none") and "blink" in controls:
            qualifier = ("none" if kind == "blink_none" or (m.negated and kind == "blink")
                         else "more" if kind == "blink_more" else m.blink)
            if (m.negated and kind != "blink") or not qualifier:
                continue
            rate = {"more": 1.0 + (BLINK_MORE - 1.0) * m.scale,
                    "less": 1.0 - (1.0 - BLINK_LESS) * m.scale, "none": 0.0}[qualifier]
            changes = {"blink_rate": _clamp(rate, *BLINK_RANGE)}
        else:
            continue
        style = replace(style, **changes)
        words.append(text[m.start:m.end])
    if steps:
        style = replace(style, expressiveness=_clamp(1.0 + EXPRESSIVENESS_STEP * steps,
                                                     *EXPRESSIVENESS_RANGE))
    return replace(style, words=tuple(words))


def _clamp(value: float, low: float, high: float) -> float:
    return round(min(max(value, low), high), 3)
