"""`python -m services.cli ...` is the `lipsync` command."""

from services.cli.commands import main

raise SystemExit(main())
