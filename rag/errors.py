"""The one error type for a caller's mistake.

A request, a flag, a passage list or an experiment spec that cannot be used raises ``InputError``: the
service answers 422 naming the problem and the CLI exits 2. Any other exception is a fault of the
service or of its configuration, so it must not look like the caller's: the service logs it and
answers a generic 500. ``InputError`` is a ``ValueError`` so that library users who already catch
``ValueError`` keep working.
"""
from __future__ import annotations


class InputError(ValueError):
    """Bad input from the caller; the message says which field and why."""
