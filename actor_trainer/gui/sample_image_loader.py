"""Sample and Try images for the GUI: fetched through the storage into the disk cache
(core/image_cache.py), decoded and scaled off the event loop, kept decoded for the tiles in a
bounded in-memory cache. Widgets ask `pixmap(url)`, else `request(url)`, and repaint on `ready(url)`.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QImage, QPixmap

from actor_trainer.gui.tasks import TaskRunner

if TYPE_CHECKING:
    from actor_trainer.core.image_cache import ImageCache
    from actor_trainer.core.storage.base import Storage

log = logging.getLogger(__name__)

#: decoded images kept in memory (about 256 KB each at 256 px)
PIXMAPS_MAX = 400


def decode_scaled(path: Path, size: int) -> QImage:
    """An image decoded and scaled to fit `size` (a QImage: safe off the GUI thread)."""
    image = QImage(str(path))
    if image.isNull():
        raise OSError(f"{path.name} is not an image Qt can read")
    if max(image.width(), image.height()) > size:
        image = image.scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
    return image


class SampleImageLoader(QObject):
    #: the image at this URL is ready: `pixmap(url)` returns it now
    ready = Signal(str)
    #: the image at this URL could not be loaded: (url, message)
    failed = Signal(str, str)

    def __init__(self, storage: Storage, tasks: TaskRunner, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._storage = storage
        self._tasks = tasks
        self._cache: ImageCache | None = None  # made on first use (core/image_cache.py)
        self._pixmaps: OrderedDict[str, QPixmap] = OrderedDict()
        self._failed: dict[str, str] = {}

    def pixmap(self, url: str) -> QPixmap | None:
        """The decoded image of `url` if it is loaded, else None (then `request`)."""
        pixmap = self._pixmaps.get(url)
        if pixmap is not None:
            self._pixmaps.move_to_end(url)
        return pixmap

    def failure(self, url: str) -> str | None:
        return self._failed.get(url)

    def request(self, url: str, size: int = 512) -> None:
        """Load `url`'s image (disk cache, decode off the loop); `ready(url)` says when."""
        name = "sample-image-" + url
        if url in self._pixmaps or self._tasks.is_running(name):
            return
        if self._cache is None:
            from actor_trainer.core.image_cache import ImageCache

            self._cache = ImageCache(self._storage)
        cache = self._cache

        async def load() -> QImage:
            path = await cache.fetch(url)
            return await asyncio.to_thread(decode_scaled, path, size)

        def done(image: QImage) -> None:
            self._pixmaps[url] = QPixmap.fromImage(image)
            while len(self._pixmaps) > PIXMAPS_MAX:
                self._pixmaps.popitem(last=False)
            self._failed.pop(url, None)
            self.ready.emit(url)

        def failed(exc: BaseException) -> None:
            message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
            self._failed[url] = message
            log.warning("Sample image %s could not be loaded: %s", url, message)
            self.failed.emit(url, message)

        self._tasks.start(name, load(), on_done=done, on_error=failed, replace=False)
