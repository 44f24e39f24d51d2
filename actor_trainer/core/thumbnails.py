"""Square thumbnails of library images, cached on disk.

The actor grid shows thousands of posters; decoding a 24-megapixel JPEG for a 180 px card every time
would be far too slow. A `ThumbnailCache` makes each thumbnail once and serves the file afterwards.

A cache file is named after a hash of (resolved source path, source size, source mtime, thumbnail
size), so an edited or replaced source gets a new thumbnail by itself and an unchanged one is never
decoded again. Files are written to a temporary name and moved into place with `os.replace`:
a reader never sees half a thumbnail, and two threads making the same one at once are harmless.

`get_or_create` blocks (Pillow decoding); call it from a worker thread, or await `get`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from actor_trainer.core.errors import ActorTrainerError

if TYPE_CHECKING:
    from PIL import Image

# Pillow is imported where a picture is decoded or written (always off the event loop), not with this
# module: the app builds a cache before its first paint, and Pillow's import costs ~60 ms there.

ThumbnailFormat = Literal["webp", "png"]

# Part of every cache key: bump it when the way thumbnails are made changes, so old ones are not used.
_KEY_VERSION = "1"
MIN_SIZE, MAX_SIZE = 16, 2048


class ThumbnailError(ActorTrainerError):
    """An image could not be read or decoded, or its thumbnail could not be written."""


def default_format() -> ThumbnailFormat:
    """WebP when this Pillow can write it (a tenth of the size of PNG for photos), else PNG."""
    from PIL import features

    return "webp" if features.check("webp") else "png"


class ThumbnailCache:
    """Square, centre-cropped thumbnails of `size`×`size` pixels, kept as files in `cache_dir`."""

    def __init__(self, cache_dir: Path, size: int = 256, *, fmt: ThumbnailFormat | None = None) -> None:
        if not MIN_SIZE <= size <= MAX_SIZE:
            raise ValueError(f"thumbnail size must be between {MIN_SIZE} and {MAX_SIZE} pixels, not {size}")
        self.cache_dir = Path(cache_dir)
        self.size = size
        self._format = fmt

    @property
    def format(self) -> ThumbnailFormat:
        """The file format of the thumbnails, asked of Pillow on first use (see the imports)."""
        if self._format is None:
            self._format = default_format()
        return self._format

    def thumbnail_path(self, source: Path) -> Path:
        """Where the thumbnail of `source`, as the file is now, lives (whether or not it exists yet).

        Raises ThumbnailError if `source` cannot be found or read.
        """
        resolved = Path(source).resolve()
        try:
            st = resolved.stat()
        except OSError as exc:
            raise ThumbnailError(
                f"Cannot read {source}: {exc.strerror or exc}.",
                "Check that the file still exists and that you may read it.",
            ) from exc
        key = "\0".join((_KEY_VERSION, str(resolved), str(st.st_size), str(st.st_mtime_ns), str(self.size)))
        digest = hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()
        # Two-character fan-out folders keep directories small with tens of thousands of thumbnails.
        return self.cache_dir / digest[:2] / f"{digest}.{self.format}"

    def get_or_create(self, source: Path) -> Path:
        """The thumbnail file of `source`, made now if it does not exist yet. BLOCKING.

        Raises ThumbnailError when `source` is missing or is not a decodable image, or when the
        cache folder cannot be written.
        """
        target = self.thumbnail_path(source)
        with contextlib.suppress(OSError):
            if target.stat().st_size > 0:  # an empty file would be the remains of a crash
                return target
        thumbnail = _square_thumbnail(Path(source), self.size)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            self._write_atomically(thumbnail, target)
        except OSError as exc:
            raise ThumbnailError(
                f"Could not write a thumbnail into {target.parent}: {exc.strerror or exc}.",
                "Check the free disk space and the permissions of the cache folder.",
            ) from exc
        return target

    async def get(self, source: Path) -> Path:
        """`get_or_create` in a worker thread, so that the event loop never waits for Pillow."""
        return await asyncio.to_thread(self.get_or_create, source)

    def _write_atomically(self, image: Image.Image, target: Path) -> None:
        fd, temp_name = tempfile.mkstemp(prefix=".tmp-", suffix=f".{self.format}", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                if self.format == "webp":
                    image.save(handle, "WEBP", quality=85, method=4)
                else:
                    image.save(handle, "PNG", compress_level=6)
            os.replace(temp_name, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp_name)
            raise


def _square_thumbnail(source: Path, size: int) -> Image.Image:
    """Decode `source` upright (EXIF orientation applied), centre-crop it square, scale to `size`."""
    from PIL import Image, ImageOps

    try:
        with Image.open(source) as opened:
            if opened.format == "JPEG":
                # Let libjpeg decode at 1/2, 1/4 or 1/8 scale, never below the size we need:
                # a 6000×4000 photo then costs about as much as a 750×500 one.
                opened.draft("RGB", (size, size))
            image = ImageOps.exif_transpose(opened)  # a loaded, upright copy
        has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
        wanted = "RGBA" if has_alpha else "RGB"
        if image.mode != wanted:
            image = image.convert(wanted)
        width, height = image.size
        side = min(width, height)
        left, top = (width - side) / 2, (height - side) / 2
        return image.resize(
            (size, size),
            Image.Resampling.LANCZOS,
            box=(left, top, left + side, top + side),
            reducing_gap=3.0,  # shrink in two steps: much faster for big images, same look
        )
    except FileNotFoundError as exc:
        raise ThumbnailError(f"{source} no longer exists.", "Refresh the library view.") from exc
    except Exception as exc:  # Pillow's decoders raise many kinds of errors on broken files
        raise ThumbnailError(
            f"{source.name} is not an image that can be shown ({type(exc).__name__}: {exc}).",
            "Replace the file with a PNG, JPEG or WebP image, or remove it.",
        ) from exc
