"""``python -m raycollect`` is the ``raycollect`` command."""

from raycollect.cli import main

raise SystemExit(main())
