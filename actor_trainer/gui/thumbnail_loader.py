"""Poster thumbnails decoded off the GUI thread, kept in a bounded in-memory pixmap cache.

Views ask for a thumbnail while painting (`pixmap()`, then `request()` when it is missing), so
only visible posters are ever decoded. Worker threads decode into a `QImage` (safe off the GUI
thread) already scaled and cropped to a square; the GUI thread turns it into a `QPixmap` (which
must not be made elsewhere), caches it and emits `loaded(path)`.

Requests are served newest first: when the user scrolls fast, the posters on screen now are
decoded before those that scrolled past, and the oldest waiting requests are dropped (a view
asks again when it paints them again).
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

from PySide6.QtCore import QObject, QRect, QSize, Qt, Signal, Slot
from PySide6.QtGui import QImage, QImageIOHandler, QImageReader, QPixmap

log = logging.getLogger(__name__)

MIB = 1024 * 1024


class DiskThumbnailCache(Protocol):
    """A blocking on-disk thumbnail cache (`core.thumbnails.ThumbnailCache` has this shape)."""

    def get_or_create(self, source: Path) -> Path: ...


def decode_thumbnail(path: str | os.PathLike[str], size: int) -> QImage:
    """Decode an image file into a `size`×`size` image, scaled to cover and centre-cropped.

    Honours EXIF orientation. Safe to call from any thread. Raises `OSError` when the file cannot
    be decoded.
    """
    path = os.fspath(path)
    reader = QImageReader(path)
    reader.setAutoTransform(True)
    source = reader.size()
    # Whether a scaled size applies before or after a 90° EXIF rotation is not documented: for
    # those (rare) files decode at full size and crop afterwards, which is right either way.
    rotated = bool(reader.transformation() & QImageIOHandler.Transformation.TransformationRotate90)
    scaled_read = source.isValid() and source.width() > 0 and source.height() > 0 and not rotated
    if scaled_read:
        # Let the decoder scale (JPEG scales while decoding, far cheaper than a full-size read).
        scale = size / min(source.width(), source.height())
        width = max(size, round(source.width() * scale))
        height = max(size, round(source.height() * scale))
        reader.setScaledSize(QSize(width, height))
        reader.setScaledClipRect(QRect((width - size) // 2, (height - size) // 2, size, size))
    image = reader.read()
    if image.isNull():
        image = _decode_with_pillow(path, size, reader.errorString())
    elif not scaled_read or image.width() != size or image.height() != size:
        image = _cover_crop(image, size)
    return image.convertToFormat(QImage.Format.Format_ARGB32_Premultiplied)


def _cover_crop(image: QImage, size: int) -> QImage:
    scaled = image.scaled(
        size, size, Qt.AspectRatioMode.KeepAspectRatioByExpanding, Qt.TransformationMode.SmoothTransformation
    )
    return scaled.copy((scaled.width() - size) // 2, (scaled.height() - size) // 2, size, size)


def _decode_with_pillow(path: str, size: int, qt_error: str) -> QImage:
    # Formats Qt's plugins do not read (and files Qt refuses) get a second chance with Pillow.
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as opened:
            picture = ImageOps.exif_transpose(opened) or opened
            picture = ImageOps.fit(picture.convert("RGBA"), (size, size))
            data = picture.tobytes("raw", "RGBA")
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise OSError(f"cannot read image {path}: {qt_error or exc}") from exc
    # copy(): the QImage must own its pixels once `data` is gone.
    return QImage(data, size, size, 4 * size, QImage.Format.Format_RGBA8888).copy()


class ThumbnailLoader(QObject):
    """Square poster thumbnails, decoded by a few worker threads, cached as pixmaps (LRU).

    Use from the GUI thread only. Call `shutdown()` before dropping the loader.
    """

    #: A thumbnail is in the cache now (the path string as requested).
    loaded = Signal(str)
    #: A poster could not be decoded (path, reason); it is not retried until `invalidate(path)`.
    failed = Signal(str, str)
    # Worker → GUI thread hand-over (queued): path, image (null on failure), error text.
    _delivered = Signal(str, QImage, str)

    def __init__(
        self,
        size: int = 180,
        *,
        max_workers: int | None = None,
        max_entries: int = 2000,
        max_bytes: int = 128 * MIB,
        max_pending: int = 256,
        disk_cache: DiskThumbnailCache | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        if size <= 0:
            raise ValueError("thumbnail size must be positive")
        self._size = size
        self._max_workers = max_workers or min(3, os.cpu_count() or 1)
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._max_pending = max_pending
        self._disk_cache = disk_cache
        self._cache: OrderedDict[str, QPixmap] = OrderedDict()
        self._cache_bytes = 0
        self._failed: dict[str, str] = {}
        self._in_flight: set[str] = set()  # requested, not yet delivered (GUI thread only)
        self._stale: set[str] = set()  # invalidated while in flight: drop the result
        self._lock = threading.Lock()  # guards _pending, _active, _closed
        self._pending: OrderedDict[str, None] = OrderedDict()
        self._active = 0
        self._closed = False
        self._executor = ThreadPoolExecutor(max_workers=self._max_workers, thread_name_prefix="thumbnail")
        self._delivered.connect(self._on_delivered, Qt.ConnectionType.QueuedConnection)

    # --- queries (GUI thread) --------------------------------------------------------------------

    @property
    def size(self) -> int:
        """Edge length of the thumbnails, in device pixels."""
        return self._size

    def pixmap(self, path: str | os.PathLike[str]) -> QPixmap | None:
        """The cached thumbnail, or None (then `request()` it)."""
        key = os.fspath(path)
        pixmap = self._cache.get(key)
        if pixmap is not None:
            self._cache.move_to_end(key)
        return pixmap

    def is_cached(self, path: str | os.PathLike[str]) -> bool:
        return os.fspath(path) in self._cache

    def has_failed(self, path: str | os.PathLike[str]) -> bool:
        return os.fspath(path) in self._failed

    def cached_count(self) -> int:
        return len(self._cache)

    def cached_bytes(self) -> int:
        return self._cache_bytes

    # --- requests (GUI thread) -------------------------------------------------------------------

    def request(self, path: str | os.PathLike[str]) -> None:
        """Start decoding a thumbnail unless it is cached, in flight or known to fail."""
        key = os.fspath(path)
        if key in self._cache or key in self._in_flight or key in self._failed:
            return
        dropped: list[str] = []
        with self._lock:
            if self._closed:
                return
            self._pending[key] = None
            while len(self._pending) > self._max_pending:
                dropped.append(self._pending.popitem(last=False)[0])
            start_worker = self._active < self._max_workers
            if start_worker:
                self._active += 1
        self._in_flight.add(key)
        self._in_flight.difference_update(dropped)
        if start_worker:
            self._executor.submit(self._drain)

    def invalidate(self, path: str | os.PathLike[str]) -> None:
        """Forget a thumbnail (the poster file changed); the next paint loads it again."""
        key = os.fspath(path)
        pixmap = self._cache.pop(key, None)
        if pixmap is not None:
            self._cache_bytes -= _pixmap_bytes(pixmap)
        self._failed.pop(key, None)
        if key in self._in_flight:
            self._stale.add(key)

    def clear(self) -> None:
        """Drop every cached thumbnail and failure."""
        self._cache.clear()
        self._cache_bytes = 0
        self._failed.clear()
        self._stale.update(self._in_flight)

    def shutdown(self, wait: bool = True) -> None:
        """Stop the workers (pending requests are dropped). The loader serves only its cache after."""
        with self._lock:
            self._closed = True
            self._pending.clear()
        self._executor.shutdown(wait=wait, cancel_futures=True)

    # --- workers ---------------------------------------------------------------------------------

    def _drain(self) -> None:
        """Worker loop: decode the newest waiting request until none is left."""
        while True:
            with self._lock:
                if self._closed or not self._pending:
                    self._active -= 1
                    return
                key = self._pending.popitem(last=True)[0]
            try:
                image = self._decode(key)
                error = ""
            except Exception as exc:  # any decoder failure is this poster's failure, not the app's
                image = QImage()
                error = str(exc) or type(exc).__name__
            try:
                self._delivered.emit(key, image, error)
            except RuntimeError:  # the loader's Qt object is gone: nobody to deliver to
                return

    def _decode(self, key: str) -> QImage:
        """Runs in a worker thread: the small on-disk thumbnail when a disk cache is set, decoded."""
        source = Path(key)
        if self._disk_cache is not None:
            try:
                source = self._disk_cache.get_or_create(source)
            except Exception as exc:  # a cache that cannot help must not stop the poster showing
                log.info("thumbnail disk cache failed for %s (%s); decoding the original", key, exc)
        return decode_thumbnail(source, self._size)

    @Slot(str, QImage, str)
    def _on_delivered(self, key: str, image: QImage, error: str) -> None:
        self._in_flight.discard(key)
        if key in self._stale:
            self._stale.discard(key)
            self.loaded.emit(key)  # views repaint, find no pixmap, and request the new file
            return
        if error or image.isNull():
            reason = error or "empty image"
            self._failed[key] = reason
            log.info("poster %s could not be decoded: %s", key, reason)
            self.failed.emit(key, reason)
            return
        self._store(key, QPixmap.fromImage(image))
        self.loaded.emit(key)

    def _store(self, key: str, pixmap: QPixmap) -> None:
        old = self._cache.pop(key, None)
        if old is not None:
            self._cache_bytes -= _pixmap_bytes(old)
        self._cache[key] = pixmap
        self._cache_bytes += _pixmap_bytes(pixmap)
        while self._cache and (len(self._cache) > self._max_entries or self._cache_bytes > self._max_bytes):
            _, evicted = self._cache.popitem(last=False)
            self._cache_bytes -= _pixmap_bytes(evicted)


def _pixmap_bytes(pixmap: QPixmap) -> int:
    return pixmap.width() * pixmap.height() * max(pixmap.depth(), 8) // 8
