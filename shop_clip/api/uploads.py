"""Photo uploads stop at ``SHOP_CLIP["MAX_UPLOAD_BYTES"]``: a Content-Length over it is refused
before the body is read, and a body that grows past it is cut there, kept in memory up to then
and never spooled to a temporary file."""

from __future__ import annotations

import io

from django.core.files.uploadedfile import InMemoryUploadedFile
from django.core.files.uploadhandler import FileUploadHandler

from ..conf import shop_clip_settings
from ..images import byte_size

# Room for the multipart boundaries and headers around the photo.
MULTIPART_ALLOWANCE = 64 * 1024


class UploadTooLarge(ValueError):
    """The request body is larger than shop-clip reads (HTTP 413)."""


def upload_limit() -> int:
    return shop_clip_settings.MAX_UPLOAD_BYTES


def too_large(size: int | None = None) -> UploadTooLarge:
    return UploadTooLarge(f"the upload is {'' if size is None else f'{byte_size(size)}, '}larger than "
                          f"{byte_size(upload_limit())}; send a smaller photo")


def refuse_declared_length(meta: dict) -> None:
    """UploadTooLarge when the request says its body is over the limit."""
    try:
        length = int(meta.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return  # Django's parser refuses a malformed length with a 400
    if length > upload_limit() + MULTIPART_ALLOWANCE:
        raise too_large(length)


class LimitedMemoryUploadHandler(FileUploadHandler):
    """Keeps each uploaded file in memory and raises UploadTooLarge past the limit."""

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        refuse_declared_length(META)
        self.received = 0

    def new_file(self, *args, **kwargs) -> None:
        super().new_file(*args, **kwargs)
        self.buffer = io.BytesIO()

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        self.received += len(raw_data)
        if self.received > upload_limit():
            raise too_large()
        self.buffer.write(raw_data)

    def file_complete(self, file_size: int) -> InMemoryUploadedFile:
        self.buffer.seek(0)
        return InMemoryUploadedFile(self.buffer, self.field_name, self.file_name, self.content_type,
                                    file_size, self.charset, self.content_type_extra)
