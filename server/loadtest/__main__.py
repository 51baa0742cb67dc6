"""``python -m server.loadtest`` = ``edustream loadtest``."""

from __future__ import annotations

import sys

from server.loadtest.cli import main

sys.exit(main())
