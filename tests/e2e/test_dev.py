"""`lipsync dev` as a user starts it: where its data goes (`--data-dir`, `LIPSYNC_DATA_DIR`)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from dev_process import running_dev

from services.devtools.redis_server import free_port

PNG = b"\x89PNG\r\n\x1a\n" + bytes(200)


@contextmanager
def dev(flags: list[str], env: dict[str, str], cwd: Path) -> Iterator[tuple[str, str]]:
    """`lipsync dev` in its own process until the block ends; yields its base URL and API key."""
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("LIPSYNC_")}
    command = [sys.executable, "-m", "services.cli", "dev", "--port", str(port), *flags]
    with running_dev(command, port, cwd, {**environ, "PYTHONPATH": str(Path.cwd()), **env}) as found:
        yield found


def _upload_lands_in(base: str, key: str, data_dir: Path) -> None:
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30) as client:
        reply = client.post("/api/v1/files", content=PNG)
        assert reply.status_code == 200, reply.text
    name = reply.json()["url"].split("/files/uploads/")[1].split("?")[0]
    assert (data_dir / "uploads" / name).read_bytes() == PNG
    assert (data_dir / "redis").is_dir() and (data_dir / "signing.key").is_file()


@pytest.mark.parametrize("flag", [False, True])
def test_dev_keeps_its_data_where_it_is_told(tmp_path: Path, flag: bool) -> None:
    """LIPSYNC_DATA_DIR is honoured; `--data-dir` wins when both are given; ./data is untouched."""
    from_env, from_flag, cwd = tmp_path / "from-env", tmp_path / "from-flag", tmp_path / "cwd"
    cwd.mkdir()
    flags = ["--data-dir", str(from_flag)] if flag else []
    with dev(flags, {"LIPSYNC_DATA_DIR": str(from_env)}, cwd) as (base, key):
        _upload_lands_in(base, key, from_flag if flag else from_env)
    assert not (cwd / "data").exists()
    assert not (from_env if flag else from_flag).exists()
