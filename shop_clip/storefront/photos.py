"""Photos shoppers send to the pages: read within ``MAX_UPLOAD_BYTES``, through the image door,
and carried in the page itself as a data: URL of a small copy (nothing is written to disk)."""

from __future__ import annotations

import base64
import binascii
import io

from django.http import HttpRequest
from PIL import Image

from ..conf import shop_clip_settings
from ..encoders import get_encoder
from ..errors import QueryError
from ..images import ImageRejected, decode_size, load_image, read_limited
from ..spaces import active_space

PHOTO_FIELD = "image"  # the form's file input, as the API names its multipart field
COPY_FIELD = "photo"   # the copy an answer embeds, posted again for its next page
DISPLAY_SIDE = 800     # px: the longest side of the copy a shop-the-look page shows
DATA_URL_PREFIX = "data:image/jpeg;base64,"


def uploaded_photo(request: HttpRequest) -> bytes:
    """The photo a page's form sent: the file ``image``, else the ``photo`` copy an earlier answer
    embedded; QueryError when neither came, ImageRejected past ``MAX_UPLOAD_BYTES``."""
    upload = request.FILES.get(PHOTO_FIELD)
    if upload is not None:
        return read_limited(upload, shop_clip_settings.MAX_UPLOAD_BYTES)
    copy = request.POST.get(COPY_FIELD)
    if copy:
        return from_data_url(copy)
    raise QueryError("choose a photo to upload")


def from_data_url(url: str) -> bytes:
    """The bytes of a JPEG data: URL (as ``data_url`` writes them); ImageRejected otherwise."""
    if not url.startswith(DATA_URL_PREFIX):
        raise ImageRejected("the photo could not be read; upload it again")
    try:
        data = base64.b64decode(url[len(DATA_URL_PREFIX):], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ImageRejected("the photo could not be read; upload it again") from exc
    return read_limited(io.BytesIO(data), shop_clip_settings.MAX_UPLOAD_BYTES)


def search_copy(data: bytes) -> bytes:
    """The photo as photo search decodes it, re-encoded: each page of an answer searches these
    very bytes, so the pages agree on the order and none repeats a product."""
    side = decode_size(get_encoder(model=active_space().model_ref).image_size)
    return jpeg(load_image(data, target=side))


def display_copy(data: bytes) -> str:
    """A data: URL of the photo upright (as the search saw it) and at most ``DISPLAY_SIDE`` px."""
    image = load_image(data, target=DISPLAY_SIDE)
    image.thumbnail((DISPLAY_SIDE, DISPLAY_SIDE))
    return data_url(jpeg(image))


def jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def data_url(data: bytes) -> str:
    """``data`` (JPEG bytes) as a data: URL."""
    return DATA_URL_PREFIX + base64.b64encode(data).decode("ascii")
