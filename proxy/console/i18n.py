"""The console's languages: English, Japanese and Arabic (right to left).

The language is `?lang=` (remembered in a cookie), else the cookie, else the best match of the
browser's Accept-Language, else English. Strings are gettext messages: the catalogs are the
`.po` files under `locales/`, read at start-up (no compile step; `python -m
proxy.console.catalogs` extracts and checks them). Numbers and dates are formatted by Babel for
the language (CLDR data), so Arabic gets its own separators and month names.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from babel import Locale, negotiate_locale
from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations

LOCALES_DIR = Path(__file__).parent / "locales"
DOMAIN = "console"
LANGUAGES = ("en", "ja", "ar")
DEFAULT = "en"
COOKIE = "lipsync_lang"
NAMES = {"en": "English", "ja": "日本語", "ar": "العربية"}  # each in its own language


def N_(message: str) -> str:
    """Marks a message for extraction where it is translated later (page titles)."""
    return message


@dataclass(frozen=True)
class Language:
    code: str
    rtl: bool
    translations: NullTranslations

    def gettext(self, message: str) -> str:
        return self.translations.gettext(message)

    def number(self, value: float, digits: int = 0) -> str:
        pattern = "#,##0" + ("." + "0" * digits if digits else "")
        return format_decimal(value, format=pattern, locale=self.code)

    def datetime(self, epoch: float) -> str:
        if not epoch:
            return "—"
        return format_datetime(datetime.fromtimestamp(epoch, UTC), "medium", tzinfo=UTC, locale=self.code)

    def datetime_iso(self, text: str) -> str:
        """An RFC 3339 time (the public Job's `createdAt`)."""
        try:
            return self.datetime(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())
        except ValueError:
            return text

    def date(self, day: str) -> str:
        """A YYYY-MM-DD day."""
        return format_date(datetime.strptime(day, "%Y-%m-%d").date(), "medium", locale=self.code)


def po_path(code: str) -> Path:
    return LOCALES_DIR / code / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def language(code: str) -> Language:
    if code not in LANGUAGES:
        code = DEFAULT
    translations: NullTranslations = NullTranslations()
    if code != DEFAULT:
        with po_path(code).open("rb") as po:
            catalog = read_po(po, locale=code)
        compiled = io.BytesIO()
        write_mo(compiled, catalog)
        compiled.seek(0)
        translations = Translations(compiled, domain=DOMAIN)
    return Language(code, Locale.parse(code).text_direction == "rtl", translations)


def choose(query: str | None, cookie: str | None, accept_language: str) -> str:
    """The language code to use: the query's, the cookie's, the browser's, or English."""
    for explicit in (query, cookie):
        if explicit in LANGUAGES:
            return str(explicit)
    preferred = []
    for part in accept_language.split(","):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag and quality > 0:
            preferred.append((quality, tag.replace("_", "-")))
    ranked = [tag for _, tag in sorted(preferred, key=lambda item: -item[0])]
    return negotiate_locale(ranked, list(LANGUAGES), sep="-") or DEFAULT
