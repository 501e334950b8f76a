"""The `lipsync` command: `commands.py` parses it, `serve.py` runs one role, `dev.py` all of them."""
