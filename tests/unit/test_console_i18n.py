"""The console's catalogs are complete and every template renders in every language."""

from __future__ import annotations

import jinja2
import pytest

from proxy.console import catalogs, i18n
from proxy.console.rendering import TEMPLATES, environment


@pytest.mark.parametrize("code", ["ja", "ar"])
def test_every_message_of_the_pages_is_translated(code: str) -> None:
    assert catalogs.missing(code) == []


@pytest.mark.parametrize("code", ["ja", "ar"])
def test_translations_keep_their_placeholders(code: str) -> None:
    catalog = catalogs.read(code)
    for message in catalog:
        if not message.id:
            continue
        for placeholder in ("%(credits)s", "%(seconds)s", "{name}"):
            assert (placeholder in str(message.id)) == (placeholder in str(message.string)), message.id


def test_arabic_is_right_to_left_and_the_others_are_not() -> None:
    assert i18n.language("ar").rtl and not i18n.language("ja").rtl and not i18n.language("en").rtl
    assert i18n.language("xx").code == "en"


@pytest.mark.parametrize(("query", "cookie", "header", "expected"), [
    ("ja", "ar", "en", "ja"),
    (None, "ar", "ja", "ar"),
    ("klingon", None, "ja-JP,ja;q=0.9", "ja"),
    (None, None, "fr-FR, ar-EG;q=0.8, en;q=0.5", "ar"),
    (None, None, "de, fr;q=0.9", "en"),
    (None, None, "ja;q=0, ar;q=bad", "en"),
    (None, None, "", "en"),
])
def test_language_choice(query: str | None, cookie: str | None, header: str, expected: str) -> None:
    assert i18n.choose(query, cookie, header) == expected


def test_numbers_and_dates_follow_the_language() -> None:
    assert i18n.language("en").number(1234567) == "1,234,567"
    assert i18n.language("en").number(6.44, 1) == "6.4"
    assert i18n.language("en").date("2026-11-28") == "Nov 28, 2026"
    assert i18n.language("ja").date("2026-11-28") == "2026/11/28"
    assert i18n.language("ar").date("2026-11-28") == "28\u200f/11\u200f/2026"  # CLDR: right-to-left marks


@pytest.mark.parametrize("code", i18n.LANGUAGES)
def test_every_template_compiles(code: str) -> None:
    env = environment(code)
    for path in sorted(TEMPLATES.glob("*.html")):
        try:
            env.get_template(path.name)
        except jinja2.TemplateSyntaxError as error:  # pragma: no cover - the message is the point
            pytest.fail(f"{path.name}: {error}")
