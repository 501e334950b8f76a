"""Driving the web console in Debian's chromium through Playwright (the browser tests and the
screenshots of docs/console/). Playwright's own browser download is never used.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # playwright is a dev extra: imported where it runs
    from playwright.sync_api import Browser, Page, ViewportSize

CHROMIUM = "/usr/bin/chromium"
VIEWPORT: ViewportSize = {"width": 1280, "height": 860}
# Text nodes outside [translate=no] (ids, emails, code, the API's own English) that hold Latin
# words and not one letter of the page's script: untranslated strings. Run in the page.
UNTRANSLATED_JS = """(script) => {
  const re = new RegExp(script, "u");
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const found = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    if (!el || el.closest('[translate="no"], script, style, option, noscript, [hidden]')) continue;
    const text = node.textContent.trim();
    if (/[A-Za-z]{2,}/.test(text) && !re.test(text)) found.push(text);
  }
  return found;
}"""
SCRIPTS = {"ar": r"\p{Script=Arabic}", "ja": r"[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}]"}


def chromium_path() -> str | None:
    return CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")


@contextmanager
def browser(extra_args: Sequence[str] = ()) -> Iterator[Browser]:
    """A headless chromium (the Playwright Browser object); `extra_args`: more command-line
    switches (the live page's test gives it a fake microphone)."""
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    if path is None:
        raise RuntimeError("chromium is not installed: apt-get install chromium (make install does)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=path, args=["--disable-gpu", *extra_args])
        try:
            yield launched
        finally:
            launched.close()


def sign_in(page: Page, base: str, email: str, password: str) -> None:
    page.goto(f"{base}/console/")
    page.fill('input[name="email"]', email)
    page.fill('input[name="password"]', password)
    page.click('[data-testid="sign-in"]')
    page.wait_for_selector('[data-testid="credit-balance"]')


def untranslated(page: Page, language: str) -> list[str]:
    found: list[str] = page.evaluate(UNTRANSLATED_JS, SCRIPTS[language])
    return found
