"""``python -m sweep``: the command-line interface."""

from sweep.interface.cli import main

raise SystemExit(main())
