"""The one table from what the Python API refuses to an HTTP status and a message for the
shopper: the HTTP API answers with it, and the storefront pages show it."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation, TooManyFieldsSent, TooManyFilesSent
from django.db import DatabaseError, DataError, InterfaceError, OperationalError

from ..catalog import FilterError
from ..encoders.base import EncoderUnavailable
from ..errors import NotEmbedded, ProductNotFound, QueryError
from ..images import ImageRejected, byte_size
from ..read_db import ReadDatabaseUnavailable, unavailable
from ..spaces import NoActiveSpace
from ..tagging import NotTagged
from .uploads import UploadTooLarge

logger = logging.getLogger("shop_clip.api")


def refusal(exc: Exception) -> tuple[int, str] | None:
    """``(status, message)`` for an exception a shopper's request caused, or a read replica that
    cannot answer; None for any other."""
    if isinstance(exc, (OperationalError, InterfaceError)):
        exc = unavailable(exc) or exc
    if isinstance(exc, ReadDatabaseUnavailable):
        logger.error("%s", exc)
        return 503, str(exc)
    if isinstance(exc, UploadTooLarge):
        return 413, str(exc)
    # Django's own messages for these name its settings, which a shopper cannot change.
    if isinstance(exc, RequestDataTooBig):
        limit = byte_size(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
        return 413, (f"the request's fields besides the photo are over {limit} in all; send the photo as "
                     "the file field and the rest as short values")
    if isinstance(exc, TooManyFieldsSent):
        return 400, (f"the request has more than {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS} parameters; "
                     "send only those the search uses")
    if isinstance(exc, TooManyFilesSent):
        return 400, f"the request has more than {settings.DATA_UPLOAD_MAX_NUMBER_FILES} files; send one photo"
    if isinstance(exc, (QueryError, FilterError, ImageRejected)):
        return 400, str(exc)
    if isinstance(exc, SuspiciousOperation):
        return 400, f"the request was refused: {exc}"
    if isinstance(exc, DatabaseError) and caused_by_input(exc):
        logger.warning("a request's values were refused by the database: %s", exc)
        return 400, (f"a value in the request cannot be searched ({database_message(exc)}); remove unusual "
                     "characters, operators or very large numbers")
    if isinstance(exc, ProductNotFound):
        return 404, str(exc)
    if isinstance(exc, (NotEmbedded, NotTagged)):
        return 409, str(exc)
    if isinstance(exc, NoActiveSpace):
        return 503, str(exc)
    if isinstance(exc, EncoderUnavailable):  # the server's setup: staff get the reason, shoppers a retry
        logger.error("a search could not load its model: %s", exc)
        return 503, "search is unavailable for a moment: its model could not be loaded (the server's log says why)"
    return None


def caused_by_input(exc: DatabaseError) -> bool:
    """A database error a request's values caused: a data exception (NUL in text, a numeric
    overflow: SQLSTATE class 22), a program limit (54), or the text search parser's (only a
    shopper's words become a tsquery)."""
    sqlstate = getattr(exc.__cause__, "sqlstate", None) or ""
    return isinstance(exc, DataError) or sqlstate[:2] in ("22", "54") or "tsquery" in str(exc)


def database_message(exc: DatabaseError) -> str:
    """The database's one-line reason, without the statement or its values' context."""
    diag = getattr(exc.__cause__, "diag", None)
    return (getattr(diag, "message_primary", None) or str(exc)).splitlines()[0]
