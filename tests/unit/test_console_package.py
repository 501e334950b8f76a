"""Every file the web console reads at run time is package data of the wheel (pyproject.toml),
so an installed service serves the same pages as the source tree."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONSOLE = ROOT / "proxy" / "console"


def test_templates_static_files_and_catalogs_are_package_data() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["proxy.console"]
    shipped = {path for pattern in patterns for path in CONSOLE.glob(pattern) if path.is_file()}
    needed = {path for path in CONSOLE.rglob("*") if path.is_file() and path.suffix != ".py"
              and "__pycache__" not in path.parts}
    assert needed, "nothing found under proxy/console"
    assert needed <= shipped, sorted(str(p.relative_to(CONSOLE)) for p in needed - shipped)
