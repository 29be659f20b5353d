"""The package's one error type for user mistakes.

A `HrtrackError` means the user gave something wrong (a missing file, malformed
JSON, a checkpoint that does not fit). The CLI prints its message on one line and
exits with status 2. Bugs raise ordinary exceptions.
"""

from __future__ import annotations


class HrtrackError(ValueError):
    """A user-facing error: the message alone must tell the user what to fix."""
