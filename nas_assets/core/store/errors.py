"""The store's one error: a database file that cannot be used as a nas_assets store."""

from __future__ import annotations


class StoreError(RuntimeError):
    """The database file cannot be used as a nas_assets store; the message says why and what to do."""
