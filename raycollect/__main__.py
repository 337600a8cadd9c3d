"""``python -m raycollect`` is the ``raycollect`` command."""

from raycollect.cli.main import entry

entry()
