"""The console's message catalogs: extract the messages, update the `.po` files, check them.

    python -m proxy.console.catalogs            # list the messages a language lacks (exit 1 if any)
    python -m proxy.console.catalogs --update   # add new messages to every .po, drop gone ones

Messages are `_("...")` in the templates and in the console's Python modules, and `N_("...")`
where a message is only marked (page titles). A test runs the check, so no page shows an
untranslated string in Japanese or Arabic.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from proxy.console.i18n import DEFAULT, LANGUAGES, po_path

PACKAGE = Path(__file__).parent
METHODS = [("templates/**.html", "jinja2"), ("**.py", "python")]
KEYWORDS = {"_": None, "gettext": None, "N_": None}


def extracted() -> Catalog:
    template = Catalog(domain="console", project="lipsync console")
    for filename, lineno, message, comments, context in extract_from_dir(
            PACKAGE, METHODS, keywords=KEYWORDS, options_map={"templates/**.html": {}}):
        template.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return template


def read(code: str) -> Catalog:
    path = po_path(code)
    if not path.exists():
        return Catalog(locale=code, domain="console")
    with path.open("rb") as po:
        return read_po(po, locale=code)


def missing(code: str, template: Catalog | None = None) -> list[str]:
    """Messages of the pages that `code`'s catalog does not translate."""
    catalog = read(code)
    found = []
    for message in template or extracted():
        if not message.id:
            continue
        translated = catalog.get(message.id)
        if translated is None or not translated.string or translated.fuzzy:
            found.append(str(message.id))
    return found


def update(template: Catalog) -> None:
    for code in LANGUAGES:
        if code == DEFAULT:
            continue
        catalog = read(code)
        catalog.update(template, no_fuzzy_matching=True)
        catalog.obsolete.clear()
        po_path(code).parent.mkdir(parents=True, exist_ok=True)
        with po_path(code).open("wb") as po:
            write_po(po, catalog, width=100, omit_header=False, sort_output=True, include_lineno=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--update", action="store_true", help="update the .po files")
    args = parser.parse_args(argv)
    template = extracted()
    if args.update:
        update(template)
    status = 0
    for code in LANGUAGES:
        if code == DEFAULT:
            continue
        lacking = missing(code, template)
        print(f"{code}: {len(template) - len(lacking)} of {len(template)} messages translated")
        for message in lacking:
            print(f"  missing: {message!r}")
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
