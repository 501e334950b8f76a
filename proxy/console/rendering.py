"""Server-side pages: one Jinja2 environment per language (gettext installed in each, so
concurrent requests in different languages never share translation state), autoescaped."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse

from proxy.console import i18n
from proxy.console.security import security_headers

TEMPLATES = Path(__file__).parent / "templates"


@cache
def environment(code: str) -> jinja2.Environment:
    lang = i18n.language(code)
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), extensions=["jinja2.ext.i18n"],
                             autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True)
    env.install_gettext_translations(lang.translations, newstyle=True)  # type: ignore[attr-defined]
    env.filters.update(number=lang.number, datetime=lang.datetime, datetime_iso=lang.datetime_iso,
                       date=lang.date)
    env.globals.update(lang=lang, languages=i18n.LANGUAGES, language_names=i18n.NAMES)
    return env


def render(request: Request, template: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    lang: i18n.Language = request.state.console_lang
    html = environment(lang.code).get_template(template).render(request=request, **context)
    headers = {**security_headers(request), "Content-Language": lang.code, "Cache-Control": "no-store",
               "Vary": "Cookie, Accept-Language"}
    return HTMLResponse(html, status_code=status, headers=headers)
