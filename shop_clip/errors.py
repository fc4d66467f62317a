"""What the Python API raises for a request it cannot answer; the HTTP API maps each to a status."""

from __future__ import annotations


class QueryError(ValueError):
    """The request cannot be answered as asked (HTTP 400); the message says how to fix it."""


class ProductNotFound(LookupError):
    """No product has this key, or the instance was never saved (HTTP 404)."""


class NotEmbedded(LookupError):
    """The product exists but has no vector yet, or its image could not be embedded (HTTP 409)."""
