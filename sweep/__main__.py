"""``python -m sweep``: the command-line interface."""

from sweep.cli import main

raise SystemExit(main())
