"""The two ways a backup or restore stops: refused input (exit 2, nothing changed) and a failed step
(exit 1). `str()` of either is one line for the user."""

from __future__ import annotations


class BackupRefused(Exception):
    """The input cannot be used (an unknown id, another stack's backup, a restore already running)."""


class BackupFailed(Exception):
    """A step failed while it ran (a dump, a copy, a health check)."""
