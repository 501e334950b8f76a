"""Text to speak: English sentences from a word list, pseudo-words for other languages, and the
held-out sentences that training never sees.

Random word sequences are enough: the model learns sounds -> mouth shapes, not grammar. The word
list leans on p/b/m (and f/v, rounded vowels) because closures are what viewers notice first.
"""

from __future__ import annotations

import random


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


ENGLISH_WORDS: tuple[str, ...] = _words(
    """
    pop pope pipe pump pamper paper pepper puppy happy apple maple ample simple temple sample
    bob baby bubble bible bumble bobble cabbage rabbit robin ribbon hobby lobby tub rub cub club
    mom mum mama mime mimic memo member memory summer hammer lemon common camera moment minimum
    map mop mob mad man men mat mass miss mist most must much mud mug milk mild mind mine mint
    bat bet bit but bad bed bid bud bag beg big bug ban bin bun bell bill ball bull bath both
    pat pet pit pot put pad pen pin pan pun pig peg pal pill pull push posh path peach pitch
    poem palm plum plump bump lamp camp ramp stamp stomp swamp chomp romp limp blimp primp
    probably problem public people purple pebble pimple bumper jumper number timber lumber
    maybe baseball blueberry membership embark ambush umbrella imprint impose empire compare
    ship shop shape sheep cheap chip chop jump jam job jeep fish wish wash push bush brush
    five fine fun fan fat fit fog fox few feel fill fall full food foot four free from fresh
    very view vine van vase vote voice valve velvet vivid seven eleven over ever never river
    two ten tip top tap tape time team tell talk tall tree true trip trap track truck
    dog dig dug dip dot date day deep door down dream drop drum dress dry dust
    sun son sat set sit sip sup sea see sock sack seek soup soap sail salt sand smile smoke
    zoo zero zip zone lazy easy busy rose nose knees size prize maze
    cat cot cut cap cup cop cab cook cool coat cake keep kite king kiss kid kick
    go got good goat gap gum gas game gate girl give gift grab grip group
    hat hot hut hip hop hope help hill hall home hum hug hum hub heap
    no not now new nap nip net nut name nine noon near nice
    lip lap lab lamb lime lump lobby limb lamp low lay lie lake line long loop
    red rat rip rope rub rim ram room roam rumble ramble ripple rapid robe
    yes yet you yell yam yellow young yoga
    win web wipe wimp wave wobble whip whim woman women wombat warm wool
    the a an of to in on at by for with from about above upon among between
    is was are be been being am were has have had do does did will would can could may might
    and or but so if then than because while when where why what who how which
    I me my mine we us our you your he him his she her it its they them their
    this that these those here there some many much more most all any each every
    big small tiny huge bright dark open closed empty full happy sad quiet loud
    up down out off back away again very really quite just only also even still
    beautiful wonderful important possible impossible remember imagine improve
    morning evening tomorrow yesterday today afternoon midnight
    mountain meadow market museum machine magazine medicine microphone mirror
    blue black brown purple pink bronze amber maroon
    """
)

# Orthographies for pseudo-words in other espeak languages: (onsets, vowels, codas).
# Letters are chosen so espeak's letter-to-sound rules read them as words, not as spelled names.
OTHER_LANGUAGES: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "de": ((*_words("b d f g h k l m n p r s t w z"), "sch", "pf", "br", "pl", "st", "bl"),
           ("a", "e", "i", "o", "u", "ä", "ö", "ü", "ei", "au", "ie"),
           ("", "n", "m", "r", "s", "t", "ch", "mp", "ll")),
    "fr": ((*_words("b d f g l m n p r s t v ch j"), "br", "pl"),
           ("a", "é", "i", "o", "ou", "u", "eu", "on", "an", "ai"), ("", "", "r", "l", "m")),
    "es": (_words("b d f g l m n p r s t v ch j ll"),
           ("a", "e", "i", "o", "u"), ("", "", "n", "s", "r", "l")),
    "it": ((*_words("b d f g l m n p r s t v c z"), "pp", "mm", "bb"),
           ("a", "e", "i", "o", "u"), ("", "", "", "n", "l")),
    "pt": (_words("b d f g l m n p r s t v ch j lh nh"),
           ("a", "e", "i", "o", "u", "ão", "õe"), ("", "", "r", "s", "m")),
    "pl": (_words("b d f g l m n p r s t w z cz sz rz"),
           ("a", "e", "i", "o", "u", "y", "ą", "ę"), ("", "", "m", "n", "k", "p")),
    "nl": (_words("b d f g h k l m n p r s t v w z"),
           ("a", "e", "i", "o", "u", "aa", "oo", "ee", "ui", "ij"), ("", "m", "n", "p", "s", "t")),
    "sv": (_words("b d f g h k l m n p r s t v j"),
           ("a", "e", "i", "o", "u", "y", "å", "ä", "ö"), ("", "m", "n", "p", "t", "ll")),
    "cs": (_words("b d f h k l m n p r s t v z č š ž"),
           ("a", "e", "i", "o", "u", "á", "í", "ů"), ("", "", "m", "n", "k")),
    "fi": (_words("h j k l m n p r s t v"),
           ("a", "e", "i", "o", "u", "y", "ä", "ö", "aa", "uu"), ("", "", "n", "t", "s")),
    "tr": (_words("b c ç d f g h k l m n p r s ş t v y z"),
           ("a", "e", "ı", "i", "o", "ö", "u", "ü"), ("", "m", "n", "r", "k")),
    "id": (_words("b d g h j k l m n p r s t w"),
           ("a", "e", "i", "o", "u"), ("", "", "n", "m", "k", "ng")),
    "sw": ((*_words("b d f g h j k l m n p s t v w z"), "mb", "mp", "nd"),
           ("a", "e", "i", "o", "u"), ("",)),
    "hu": ((*_words("b d f g h k l m n p r s t v z"), "sz", "cs"),
           ("a", "e", "i", "o", "u", "á", "é", "ö", "ü"), ("", "m", "n", "l", "t")),
    "ro": ((*_words("b d f g l m n p r s t v z"), "ș", "ț"),
           ("a", "e", "i", "o", "u", "ă", "â"), ("", "", "m", "n", "r")),
    "ru": (_words("б в г д ж з к л м н п р с т ф х ц ч ш"),
           ("а", "е", "и", "о", "у", "ы", "я", "ю"), ("", "", "м", "н", "п", "т")),
}

_JAPANESE_KANA = (
    "あいうえおかきくけこさしすせそたちつてとなにぬねのはひふへほまみむめもやゆよらりるれろわ"
    "がぎぐげござじずぜぞだでどばびぶべぼぱぴぷぺぽん"
)

# Japanese training sentences are built from these words (`japanese_sentence`): everyday nouns
# and verbs, rich in m/b/p, with the polite endings (-masu, -mashita, -masen, -mashou) whose "m"
# is the most frequent bilabial in spoken Japanese. None of the held-out sentences
# (`heldout_families.JAPANESE`) is built here.
_JA_NOUNS = (
    "友達", "先生", "子供", "弟", "姉", "父", "祖母", "隣の人", "部長", "学生", "お客さん", "猫", "犬",
    "りんご", "みかん", "豆腐", "牛乳", "ご飯", "弁当", "お茶", "麦茶", "ぶどう", "もも", "ピーマン",
    "本", "雑誌", "帽子", "鞄", "メモ", "ボール", "ペン", "ボタン", "プリン", "ポスター", "メール",
    "駅", "町", "森", "港", "病院", "デパート", "図書館", "美術館", "部屋", "まど", "橋", "道", "浜辺",
    "雨", "雪", "夢", "名前", "番号", "地図", "電話", "問題", "毎日", "昼間", "晩", "週末", "三月",
)
_JA_PARTICLES = ("は", "が", "を", "に", "で", "と", "の", "も", "から", "まで", "へ")
_JA_VERB_STEMS = (
    "飲み", "読み", "休み", "住み", "包み", "進み", "呼び", "遊び", "選び", "学び", "並び", "結び",
    "見", "食べ", "始め", "閉め", "止め", "集め", "教え", "覚え", "待ち", "持ち", "買い", "会い",
    "歌い", "払い", "洗い", "使い", "話し", "探し", "押し", "返し", "作り", "送り", "登り", "帰り",
    "し", "来",
)
_JA_ENDINGS = ("ます", "ました", "ません", "ましょう", "ませんでした", "たいです", "ています", "てください")
_JA_ADVERBS = ("もう", "まだ", "毎朝", "もっと", "ぜんぶ", "ちょっと", "ゆっくり", "たぶん", "いつも", "ほぼ")


# Natural English sentences, never used for training: the held-out benchmark set.
HELD_OUT_SENTENCES: tuple[str, ...] = (
    "Bob bought a map at the market.",
    "Please pass me the purple paper.",
    "My mother made more muffins this morning.",
    "The big brown bear ambled past the pool.",
    "Maybe Paul will bring the umbrella tomorrow.",
    "Pam put the pepper back in the cupboard.",
    "We met a man with a bamboo fishing pole.",
    "Bubbles popped above the bathtub.",
    "The baby smiled at the bright balloon.",
    "Peter's puppy jumped over the muddy pump.",
    "A warm breeze moved the maple branches.",
    "Mark plans to probe the problem promptly.",
    "Remember to buy milk, bread and apples.",
    "The museum opens before nine on Mondays.",
    "Boats bobbed up and down in the bay.",
    "Please keep the map in your backpack.",
    "Mabel's bike broke by the old bridge.",
    "The camp smelled of smoke and damp moss.",
    "Everybody clapped when the band began to play.",
    "Put the box beside the blue lamp.",
    "Amy imagined a peaceful home by the sea.",
    "The plumber brought a bigger pipe.",
    "Morning fog covered the empty meadow.",
    "Bill and Ben played ping pong at lunch.",
    "My friend Mia moved to Boston in May.",
    "The campfire popped and embers flew up.",
    "Paint the bench before the rain begins.",
    "A submarine emerged from the deep blue ocean.",
    "Ben Brown baked a blueberry pie for mom.",
    "Simple problems rarely need complex answers.",
    "Please bump the volume up a bit.",
    "The moon beamed above the sleeping city.",
    "Bring me the map, the pen and the paper.",
    "Peas, beans and potatoes boiled in the pot.",
    "Emma's umbrella blew away in the storm.",
    "Baby birds beg for food by the bushes.",
    "The film premiere was in Paris in April.",
    "Pick a number between one and a hundred.",
    "Bright lamps lit up the empty stadium.",
    "Maybe we should ask Bob about the budget.",
)


def english_sentence(rng: random.Random) -> str:
    """A random word sequence with clause punctuation (commas make espeak pause)."""
    n = rng.randint(3, 11)
    words = [rng.choice(ENGLISH_WORDS) for _ in range(n)]
    if n > 5 and rng.random() < 0.4:
        cut = rng.randint(2, n - 2)
        words[cut] += ","
    words[0] = words[0].capitalize()
    return " ".join(words) + rng.choice(".........?!")


def pseudo_sentence(language: str, rng: random.Random) -> str:
    """Pronounceable pseudo-words in a language's spelling."""
    words = []
    for _ in range(rng.randint(2, 8)):
        if language == "ja":
            words.append("".join(rng.choice(_JAPANESE_KANA) for _ in range(rng.randint(2, 5))))
            continue
        onsets, vowels, codas = OTHER_LANGUAGES[language]
        syllables = rng.randint(1, 3)
        words.append("".join(rng.choice(onsets) + rng.choice(vowels) for _ in range(syllables))
                     + rng.choice(codas))
    if len(words) > 4 and rng.random() < 0.3:
        words[len(words) // 2] += ","
    return " ".join(words) + rng.choice("...?!")


def japanese_sentence(rng: random.Random) -> str:
    """A plausible Japanese sentence: phrases of noun + particle, maybe an adverb, then a
    polite verb; sometimes two clauses."""
    def clause() -> str:
        phrases = [rng.choice(_JA_NOUNS) + rng.choice(_JA_PARTICLES) for _ in range(rng.randint(1, 3))]
        if rng.random() < 0.4:
            phrases.insert(rng.randint(0, len(phrases)), rng.choice(_JA_ADVERBS))
        return "".join(phrases) + rng.choice(_JA_VERB_STEMS) + rng.choice(_JA_ENDINGS)
    if rng.random() < 0.3:
        return clause() + "が、" + clause() + "。"
    return clause() + rng.choice(("。", "。", "。", "か。", "ね。", "よ。"))


def other_languages() -> tuple[str, ...]:
    return (*OTHER_LANGUAGES, "ja")
