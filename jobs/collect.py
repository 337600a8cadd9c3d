"""Entry point for `ray job submit`: python jobs/collect.py --config CONFIG [raycollect run options].

    ray job submit --working-dir . -- python jobs/collect.py --config jobs/example.json

No logic here: it is `raycollect run`, and its exit code is the CLI's (0 ok, 2 config error, 3 failed files).
"""

from __future__ import annotations

import argparse
import sys

from raycollect.cli.main import entry


def arguments(argv: list[str]) -> list[str]:
    """``--config CONFIG [options]`` as the ``raycollect run`` command line."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--config", required=True)
    known, rest = parser.parse_known_args(argv)
    return ["run", known.config, *rest]


if __name__ == "__main__":
    entry(arguments(sys.argv[1:]))
