"""Checks a worker makes on each training file it downloads, as the trainer itself would.

Images are fully decoded (a truncated or mislabelled file fails the job naming the file, instead of
crashing the trainer an hour later); captions must be UTF-8 text. Blocking: run them in a thread.
"""

from __future__ import annotations

import io
import posixpath
import traceback
from urllib.parse import unquote, urlsplit

from PIL import Image

from actor_trainer.sandbox.worker_errors import WorkerFailure

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp"})
CAPTION_EXTENSIONS = frozenset({".txt"})


def file_name(url: str) -> str:
    """The decoded file name at the end of an `s3://`, `file://` or `https://` URL."""
    return unquote(posixpath.basename(urlsplit(url).path)) or url


def decode_image(name: str, data: bytes) -> None:
    """Fully decode an image, as the trainer's latent caching would (blocking: run in a thread)."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
    except Exception as exc:
        raise WorkerFailure(
            type(exc).__name__,
            f"Training image {name} cannot be decoded ({exc}). Replace or remove the file, sync, and "
            "start the training again.",
            traceback.format_exc(),
        ) from exc


def caption_tags(name: str, data: bytes) -> list[str]:
    """The comma-separated tags of a caption file (kohya's tag frequency counts these)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WorkerFailure(
            "UnicodeDecodeError",
            f"Caption file {name} is not UTF-8 text ({exc.reason} at byte {exc.start}). Save it as UTF-8, "
            "sync, and start the training again.",
            traceback.format_exc(),
        ) from exc
    return [tag.strip() for tag in text.split(",") if tag.strip()]
