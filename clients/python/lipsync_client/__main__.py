"""`python -m lipsync_client submit ...`: the command-line client (`lipsync_client.cli`)."""

import sys

from lipsync_client.cli import main

sys.exit(main())
