"""``python -m edustream`` is the ``edustream`` command."""

import sys

from edustream.cli import main

sys.exit(main())
