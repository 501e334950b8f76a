"""A queue worker alone in its own process, for tests that kill it mid-job.

    python worker_process.py REDIS_URL DATA_DIR CONSUMER_NAME
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from services.core.settings import Settings
from services.inference.worker import Worker
from services.store.connection import connect


async def main(redis_url: str, data_dir: str, consumer: str) -> None:
    settings = Settings(redis_url=redis_url, data_dir=Path(data_dir), allow_private_urls=True)
    await Worker(settings, connect(redis_url), consumer).run()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
