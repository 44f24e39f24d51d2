"""One running app per library: a `QLocalServer` named from the library path and the user.

The first launch listens; a second launch on the same library connects, sends "raise", waits for
the first one's "raised" answer and exits. A socket left behind by a crash does not answer, so it
is removed (`QLocalServer.removeServer`) and the new launch takes over. Concurrent launches are
serialised by a lock file, so two of them cannot both decide they are first.
"""

from __future__ import annotations

import asyncio
import getpass
import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock, Timeout
from PySide6.QtCore import QDir, QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

log = logging.getLogger(__name__)

RAISE = b"raise"
RAISED = b"raised"


def instance_name(library: Path) -> str:
    """The server name for `library` (same folder and user → same name; short enough for any OS)."""
    try:
        user = getpass.getuser()
    except Exception:  # no user name on this system: the path alone still separates libraries
        user = ""
    digest = hashlib.sha256(f"{user}\0{library.expanduser().resolve()}".encode()).hexdigest()[:24]
    return f"actor-trainer-{digest}"


@dataclass(frozen=True)
class InstanceCheck:
    """The outcome of `SingleInstance.acquire()`."""

    first: bool  # True: this process now owns the library
    answered: bool = False  # when not first: the running instance confirmed it raised its window


class SingleInstance(QObject):
    """The server side (after `acquire()` returned first=True) and the client side of the check."""

    #: another launch asked this one to come to the front
    raiseRequested = Signal()

    def __init__(self, library: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = instance_name(library)
        self._server: QLocalServer | None = None
        self._clients: set[QLocalSocket] = set()
        self._lock = FileLock(str(Path(QDir.tempPath()) / f"{self.name}.lock"), thread_local=False)

    @property
    def listening(self) -> bool:
        return self._server is not None and self._server.isListening()

    async def acquire(self, timeout_s: float = 2.0) -> InstanceCheck:
        """Become the library's instance, or ask the running one to raise its window."""
        try:
            await asyncio.to_thread(self._lock.acquire, timeout=max(timeout_s, 5.0))
        except Timeout:
            log.warning("single-instance lock %s stayed busy; continuing without it", self._lock.lock_file)
            return self._listen()
        try:
            answered = await self._ask_running_instance(timeout_s)
            if answered is not None:
                return InstanceCheck(first=False, answered=answered)
            return self._listen()
        finally:
            self._lock.release()

    def close(self) -> None:
        """Stop listening (the socket file is removed) and drop client connections."""
        for client in list(self._clients):
            client.abort()
        self._clients.clear()
        if self._server is not None:
            self._server.close()
            self._server = None

    # --- client side -----------------------------------------------------------------------------

    async def _ask_running_instance(self, timeout_s: float) -> bool | None:
        """None: nobody is listening. Otherwise whether the running instance confirmed the raise."""
        loop = asyncio.get_running_loop()
        socket = QLocalSocket()
        connected: asyncio.Future[bool] = loop.create_future()

        def settle(value: bool) -> None:
            if not connected.done():
                connected.set_result(value)

        socket.connected.connect(lambda: settle(True))
        socket.errorOccurred.connect(lambda _error: settle(False))
        socket.connectToServer(self.name)
        if socket.state() == QLocalSocket.LocalSocketState.ConnectedState:
            settle(True)
        try:
            ok = await asyncio.wait_for(connected, timeout_s)
        except TimeoutError:
            ok = False
        if not ok:
            socket.abort()
            socket.deleteLater()
            return None
        reply: asyncio.Future[bool] = loop.create_future()

        def on_ready_read() -> None:
            if socket.canReadLine() and not reply.done():
                reply.set_result(bytes(socket.readLine().data()).strip() == RAISED)

        socket.readyRead.connect(on_ready_read)

        def on_disconnected() -> None:
            if not reply.done():
                reply.set_result(False)

        socket.disconnected.connect(on_disconnected)
        socket.write(RAISE + b"\n")
        socket.flush()
        try:
            return await asyncio.wait_for(reply, timeout_s)
        except TimeoutError:
            return False
        finally:
            socket.abort()
            socket.deleteLater()

    # --- server side -----------------------------------------------------------------------------

    def _listen(self) -> InstanceCheck:
        server = QLocalServer(self)
        # Only this user may connect (the socket file is created with user-only permissions).
        server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        server.newConnection.connect(self._on_new_connection)
        if not server.listen(self.name):
            # A socket file left by a crashed instance (nobody answered on it): remove and retry.
            QLocalServer.removeServer(self.name)
            if not server.listen(self.name):
                log.warning("cannot listen for other launches on %s: %s", self.name, server.errorString())
                server.deleteLater()
                return InstanceCheck(first=True)
        self._server = server
        return InstanceCheck(first=True)

    def _on_new_connection(self) -> None:
        assert self._server is not None
        while self._server.hasPendingConnections():
            client = self._server.nextPendingConnection()
            if client is None:
                break
            self._clients.add(client)
            client.readyRead.connect(lambda c=client: self._on_client_data(c))
            client.disconnected.connect(lambda c=client: self._drop(c))

    def _on_client_data(self, client: QLocalSocket) -> None:
        while client.canReadLine():
            line = bytes(client.readLine().data()).strip()
            if line == RAISE:
                log.info("another launch on this library asked this window to come to the front")
                self.raiseRequested.emit()
                client.write(RAISED + b"\n")
                client.flush()

    def _drop(self, client: QLocalSocket) -> None:
        self._clients.discard(client)
        client.deleteLater()
