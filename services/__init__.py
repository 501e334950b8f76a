"""The lip-sync service: engine, job and inference services, CLI."""
