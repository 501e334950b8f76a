"""Held-out speech families for evaluation: speech the mouth model must never train or tune on.

Each family yields `HeldOutUtterance`s: audio plus phonemes as espeak-style mnemonics with start
times, so `visemes.shape_track / viseme_track / openness_track` give the truth per frame. The
families are those issue 10 holds out (flite, festival's `kal_diphone` and
`cmu_us_slt_arctic_hts`, the voice bundled with pyopenjtalk-plus, the recordings in
pocketsphinx-testdata and alsa-utils), plus espeak-ng's held-out voices and Arabic.

The sentences here are written for evaluation only (natural, rich in p/b/m) and appear nowhere
in the training text (`text.py`). Numpy only: the benchmark and the tests use this module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import islice

from services.engine.media import speech
from services.engine.media.speech import Utterance
from services.engine.training import data, festival, flite, openjtalk, recordings

ENGLISH: tuple[str, ...] = (
    "Pamela bumped into a tall man by the bus stop.",
    "My brother probably kept the map in his backpack.",
    "Paul baked an apple pie for the picnic on Sunday.",
    "Maybe the band will play one more song.",
    "Robert must pay the bill before the end of May.",
    "A small boat drifted past the empty pier.",
    "Please remember to water the plants by the porch.",
    "Molly bought a bottle of maple syrup in Vermont.",
    "The bakery opens its doors at seven every morning.",
    "The plumber promised to be back by noon.",
)
JAPANESE: tuple[str, ...] = (
    "前の晩、母はパンとバナナを買いました。",  # mae no ban, haha wa pan to banana o kaimashita
    "毎朝、妹と公園まで散歩します。",  # maiasa, imouto to kouen made sanpo shimasu
    "本棚の本を全部箱に入れてください。",  # hondana no hon o zenbu hako ni irete kudasai
    "僕は毎晩ピアノを弾きます。",  # boku wa maiban piano o hikimasu
    "文房具屋で便箋と鉛筆を買いました。",  # bunbouguya de binsen to enpitsu o kaimashita
    "三番目の窓を開けてもいいですか。",  # sanbanme no mado o akete mo ii desu ka
    "みんなでプールに泳ぎに行きましょう。",  # minna de puuru ni oyogi ni ikimashou
    "山の上から美しい海が見えます。",  # yama no ue kara utsukushii umi ga miemasu
)
ARABIC: tuple[str, ...] = (  # fully vowelled: espeak-ng guesses vowels poorly without them
    "ذَهَبَ مُحَمَّدٌ إِلَى البَيْتِ مَعَ أُمِّهِ.",  # Muhammad went home with his mother.
    "اِشْتَرَتْ أُمِّي خُبْزًا وَمَوْزًا مِنَ السُّوقِ.",  # My mother bought bread and bananas.
    "يُحِبُّ أَبِي المَشْيَ بِجَانِبِ البَحْرِ.",  # My father loves walking by the sea.
    "لَعِبَ الأَطْفَالُ بِالكُرَةِ أَمَامَ المَدْرَسَةِ.",  # The children played ball by the school.
    "مَرْحَبًا بِكُمْ فِي مَدِينَتِنَا الجَمِيلَةِ.",  # Welcome to our beautiful city.
    "شَرِبَتْ مَرْيَمُ الحَلِيبَ فِي الصَّبَاحِ.",  # Maryam drank milk in the morning.
    "بَابُ المَكْتَبِ مَفْتُوحٌ دَائِمًا.",  # The office door is always open.
    "الكِتَابُ الكَبِيرُ عَلَى المَكْتَبِ.",  # The big book is on the desk.
)
_JA_HALF_TONES = (0.0, -3.0, 3.0)  # pitch only: durations stay exact (see openjtalk)


@dataclass
class HeldOutUtterance:
    family: str
    text: str
    voice: str
    utterance: Utterance


@dataclass(frozen=True)
class Family:
    name: str
    language: str  # ISO 639-1
    data: str  # what the speech is and where its phone timings come from
    available: Callable[[], bool]
    make: Callable[[int], list[HeldOutUtterance]]

    def utterances(self, n: int) -> list[HeldOutUtterance]:
        return self.make(n)


def _cycle(items: tuple[str, ...], n: int, offset: int = 0) -> list[str]:
    return [items[(i + offset) % len(items)] for i in range(n)]


def _voice(name: str, variant: str | None, rate: int) -> str:
    return f"{name}{'+' + variant if variant else ''} rate {rate}"


def _espeak(n: int) -> list[HeldOutUtterance]:
    return [HeldOutUtterance("espeak-ng held-out", lu.text,
                             _voice(lu.voice, lu.spec.variant, lu.rate), lu.utterance)
            for lu in data.heldout_utterances(n, seed=11)]


def _festival(voice: str) -> Callable[[int], list[HeldOutUtterance]]:
    def make(n: int) -> list[HeldOutUtterance]:
        offset = 0 if voice == "kal_diphone" else 5  # different sentences per voice
        return [HeldOutUtterance(f"festival {voice}", t, voice, festival.synthesize(t, voice))
                for t in _cycle(ENGLISH, n, offset)]
    return make


def _flite(n: int) -> list[HeldOutUtterance]:
    out = []
    for i, t in enumerate(_cycle(ENGLISH, n, 2)):
        voice = flite.VOICES[i % len(flite.VOICES)]
        out.append(HeldOutUtterance("flite", t, voice, flite.synthesize(t, voice)))
    return out


def _japanese(n: int) -> list[HeldOutUtterance]:
    out = []
    for i, t in enumerate(_cycle(JAPANESE, n)):
        tone = _JA_HALF_TONES[i % len(_JA_HALF_TONES)]
        out.append(HeldOutUtterance("openjtalk mei", t, f"mei_normal {tone:+.0f} semitones",
                                    openjtalk.synthesize(t, half_tone=tone)))
    return out


def _arabic(n: int) -> list[HeldOutUtterance]:
    variants = (None, *data.HELD_OUT_VARIANTS)
    out = []
    for i, t in enumerate(_cycle(ARABIC, n)):
        variant, rate = variants[i % len(variants)], data.HELD_OUT_RATES[i % 3]
        out.append(HeldOutUtterance("espeak-ng ar", t, _voice("ar", variant, rate),
                                    speech.synthesize(t, "ar", rate=rate, variant=variant)))
    return out


def _recordings(n: int) -> list[HeldOutUtterance]:
    # Interleave the sources so that a few clips still mix read sentences and short prompts.
    found = recordings.recordings()
    libri = [r for r in found if "librivox" in str(r.path)]
    rest = [r for r in found if r not in libri]
    order = [r for pair in zip(libri, rest, strict=False) for r in pair]
    order += [r for r in found if r not in order]
    return [HeldOutUtterance("real recordings", r.transcript, f"{r.source}: {r.path.name}",
                             recordings.labelled(r)) for r in islice(order, n)]


def _has_recordings() -> bool:
    try:
        import pocketsphinx  # noqa: F401
    except ImportError:
        return False
    return bool(recordings.recordings())


FAMILIES: tuple[Family, ...] = (
    Family("espeak-ng held-out", "en",
           "espeak-ng voices/variants/rates held out of training; synthesizer's phone times",
           lambda: True, _espeak),
    Family("festival kal_diphone", "en",
           "festival diphone voice (real speaker's diphones); synthesizer's phone times",
           festival.available, _festival("kal_diphone")),
    Family("festival cmu_us_slt_arctic_hts", "en",
           "festival HTS voice (statistical, real speaker); synthesizer's phone times",
           festival.available, _festival("cmu_us_slt_arctic_hts")),
    Family("flite", "en",
           f"flite voices {', '.join(flite.VOICES)} in turn; synthesizer's phone times (-psdur)",
           flite.available, _flite),
    Family("openjtalk mei", "ja",
           "pyopenjtalk-plus bundled HTS voice mei_normal; synthesizer's phone times",
           openjtalk.available, _japanese),
    Family("espeak-ng ar", "ar",
           "espeak-ng Arabic, held-out variants; synthesizer's phone times",
           lambda: True, _arabic),
    Family("real recordings", "en",
           "pocketsphinx-testdata + alsa-utils recordings; phone times from a FORCED ALIGNER "
           "(pocketsphinx en-us), not from the speech itself",
           _has_recordings, _recordings),
)


def family(name: str) -> Family:
    for f in FAMILIES:
        if f.name == name:
            return f
    raise KeyError(f"no held-out family {name!r}; known: {[f.name for f in FAMILIES]}")
