"""The exit codes of every command, in one place (docs/commands.md states the same)."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0  # every planned file success, skipped or missing
    UNEXPECTED = 1  # an unexpected error; what was done is in the manifest
    CONFIG = 2  # the request cannot be carried out (config, matrix, symbols, preflight); nothing was collected
    FAILED = 3  # a file failed or was quarantined, a conversion failed, or `status --fail-on` matched a day
    INTERRUPTED = 130  # Ctrl-C or SIGTERM: the run recorded what finished


EXIT_OK, EXIT_UNEXPECTED, EXIT_CONFIG, EXIT_FAILED, EXIT_INTERRUPTED = (
    ExitCode.OK, ExitCode.UNEXPECTED, ExitCode.CONFIG, ExitCode.FAILED, ExitCode.INTERRUPTED)
