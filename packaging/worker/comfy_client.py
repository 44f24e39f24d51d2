"""The ComfyUI server beside the worker, over its HTTP API and websocket.

What ComfyUI does (its `server.py`, `main.py` and `execution.py`), and what the worker relies on:
- `GET /ws?clientId=<id>` first, then `POST /prompt {"prompt", "client_id"}`: that client then gets
  `executing`, `progress {value, max, node, prompt_id}`, `execution_error`,
  `execution_interrupted`, `execution_success` and, when the prompt is over, `executing {node: null}`.
- `POST /interrupt {"prompt_id"}` interrupts that prompt only if it is the one running (an older
  server interrupts whatever runs); the interrupt takes effect at the running node's next progress
  update or at the next node's start, and ComfyUI clears the flag when a prompt starts, so an
  interrupt sent just before a queued prompt starts is lost: `stop` sends it again while it runs.
- `POST /queue {"delete": [ids]}` removes prompts that are still waiting, never the running one.
- `GET /queue` lists `queue_running` and `queue_pending` (`[number, prompt_id, …]` each); a prompt in
  neither has ended; `GET /history/{id}` then holds its status and outputs.
- `POST /free {"unload_models", "free_memory"}` only sets flags, applied after the running prompt:
  `free_memory` empties ComfyUI's cache of node outputs (FluxTrainer's trainer lives there, and
  ComfyUI's model management does not know it) and unloads the models.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from errors import ComfyError, first_line, unreachable_message

log = logging.getLogger("actor_trainer_worker")

#: Called with (node id, value, max) for every `progress` message, and with (node id, None, None)
#: when a node starts executing.
OnNodeEvent = Callable[[str, int | None, int | None], None]
#: Called with (node id, its `output`) for every `executed` message (an output node, e.g. SaveImage,
#: finished: `{"images": [{"filename", "subfolder", "type"}, …]}`).
OnNodeOutput = Callable[[str, dict[str, Any]], None]

_REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=30, connect=10)


class PromptFailed(ComfyError):
    """ComfyUI reported `execution_error` for the prompt."""

    def __init__(self, message: str, *, node_id: str, node_type: str, exception_type: str, exception_message: str):
        super().__init__(message)
        self.node_id, self.node_type = node_id, node_type
        self.exception_type, self.exception_message = exception_type, exception_message


class PromptInterrupted(ComfyError):
    """ComfyUI reported `execution_interrupted` for the prompt (someone else interrupted it)."""


@dataclass(frozen=True)
class QueueState:
    running: tuple[str, ...]
    pending: tuple[str, ...]

    @property
    def idle(self) -> bool:
        return not self.running and not self.pending


class ComfyClient:
    """One job's connection to ComfyUI (an aiohttp session)."""

    def __init__(self, base_url: str, session: aiohttp.ClientSession) -> None:
        self.base = base_url.rstrip("/")
        self._session = session

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, base_url: str) -> AsyncIterator[ComfyClient]:
        timeout = aiohttp.ClientTimeout(total=None, connect=15, sock_read=None)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            yield cls(base_url, session)

    # --- plain HTTP ------------------------------------------------------------------------------

    async def _call(self, method: str, path: str, body: Any = None) -> tuple[int, Any, str]:
        try:
            async with self._session.request(
                method, f"{self.base}{path}", json=body, timeout=_REQUEST_TIMEOUT
            ) as response:
                text = await response.text()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise ComfyError(
                f"ComfyUI at {self.base} did not answer {method} {path}: {first_line(str(exc)) or type(exc).__name__}",
                refresh_worker=True,
            ) from exc
        try:
            answer = json.loads(text) if text else None
        except ValueError:
            answer = None
        return response.status, answer, text

    async def wait_ready(self, start_timeout: float, poll: float = 0.5) -> None:
        """Wait until ComfyUI answers `GET /queue` (it may still be loading on a cold worker)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + start_timeout
        while True:
            try:
                status, _, text = await self._call("GET", "/queue")
                if status == 200:
                    return
                reason = f"HTTP {status}: {first_line(text)}"
            except ComfyError as exc:
                reason = str(exc).split(": ", 1)[-1]
            if loop.time() >= deadline:
                raise ComfyError(unreachable_message(self.base, start_timeout, reason), refresh_worker=True)
            await asyncio.sleep(poll)

    async def queue_state(self) -> QueueState:
        status, answer, text = await self._call("GET", "/queue")
        if status != 200 or not isinstance(answer, dict):
            raise ComfyError(f"ComfyUI answered GET /queue with HTTP {status}: {first_line(text)}", refresh_worker=True)

        def ids(key: str) -> tuple[str, ...]:
            items = answer.get(key)
            items = items if isinstance(items, list) else []
            return tuple(str(i[1]) for i in items if isinstance(i, list) and len(i) > 1)

        return QueueState(running=ids("queue_running"), pending=ids("queue_pending"))

    async def interrupt(self, prompt_id: str | None) -> None:
        await self._call("POST", "/interrupt", {"prompt_id": prompt_id} if prompt_id else {})

    async def delete_pending(self, prompt_ids: Iterable[str]) -> None:
        ids = list(prompt_ids)
        if ids:
            await self._call("POST", "/queue", {"delete": ids})

    async def free(self) -> None:
        """Ask ComfyUI to drop its cached node outputs (the trainer) and unload every model."""
        status, _, text = await self._call("POST", "/free", {"unload_models": True, "free_memory": True})
        if status != 200:
            raise ComfyError(f"ComfyUI answered POST /free with HTTP {status}: {first_line(text)}", refresh_worker=True)

    async def history(self, prompt_id: str) -> dict[str, Any] | None:
        status, answer, _ = await self._call("GET", f"/history/{prompt_id}")
        entry = answer.get(prompt_id) if status == 200 and isinstance(answer, dict) else None
        return entry if isinstance(entry, dict) else None

    # --- stopping --------------------------------------------------------------------------------

    async def stop(self, prompt_id: str, within: float, poll: float = 0.2) -> str:
        """Interrupt `prompt_id` if it runs, unqueue it if it waits, and wait (at most `within` s)
        until ComfyUI no longer holds it.

        Returns how it ended: "interrupted", "failed", "finished", "removed" (it never ran),
        "timeout" (still held) or "unreachable".
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        try:
            await self.interrupt(prompt_id)
            await self.delete_pending([prompt_id])
            while True:
                state = await self.queue_state()
                if prompt_id in state.running:
                    await self.interrupt(prompt_id)
                elif prompt_id in state.pending:
                    await self.delete_pending([prompt_id])
                else:
                    return outcome(await self.history(prompt_id))
                if loop.time() >= deadline:
                    return "timeout"
                await asyncio.sleep(poll)
        except ComfyError as exc:
            log.warning("could not stop prompt %s: %s", prompt_id, exc)
            return "unreachable"

    async def ensure_idle(self, within: float, poll: float = 0.2) -> tuple[str, ...]:
        """Stop whatever ComfyUI runs or holds queued (an earlier job's prompt); return those ids.

        Raises ComfyError (refresh_worker) if ComfyUI still runs something after `within` s.
        """
        state = await self.queue_state()
        if state.idle:
            return ()
        held = state.running + state.pending
        log.warning("ComfyUI still holds prompt(s) %s from an earlier job: stopping them", ", ".join(held))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not state.idle:
            await self.delete_pending(state.pending)
            for prompt_id in state.running:
                await self.interrupt(prompt_id)
            if loop.time() >= deadline:
                raise ComfyError(
                    f"ComfyUI still runs prompt(s) {', '.join(state.running or state.pending)} of an earlier job "
                    f"{within:.0f} s after being interrupted: the worker is being replaced (refresh_worker); "
                    "submit the job again.",
                    refresh_worker=True,
                )
            await asyncio.sleep(poll)
            state = await self.queue_state()
        return held

    # --- running a prompt ------------------------------------------------------------------------

    async def connect(self, client_id: str) -> aiohttp.ClientWebSocketResponse:
        scheme, _, rest = self.base.partition("://")
        url = f"{'wss' if scheme == 'https' else 'ws'}://{rest}/ws?clientId={client_id}"
        try:
            return await self._session.ws_connect(url, heartbeat=30, max_msg_size=0)
        except (aiohttp.ClientError, OSError) as exc:
            raise ComfyError(f"ComfyUI at {self.base} refused a websocket: {exc}", refresh_worker=True) from exc

    async def queue_prompt(self, workflow: dict[str, Any], client_id: str) -> str:
        status, answer, text = await self._call("POST", "/prompt", {"prompt": workflow, "client_id": client_id})
        if status != 200 or not isinstance(answer, dict) or not answer.get("prompt_id"):
            raise ComfyError(f"ComfyUI refused the workflow (HTTP {status}): {prompt_error_text(answer, text)}")
        return str(answer["prompt_id"])

    async def follow(
        self,
        ws: aiohttp.ClientWebSocketResponse,
        prompt_id: str,
        on_event: OnNodeEvent,
        idle: float,
        on_output: OnNodeOutput | None = None,
    ) -> None:
        """Follow `prompt_id` until ComfyUI reports it done; raise on its error or interruption."""
        while True:
            try:
                msg = await ws.receive(timeout=idle)
            except TimeoutError:
                raise ComfyError(
                    f"ComfyUI sent nothing for {idle:.0f} s while running prompt {prompt_id}: it looks stuck",
                    refresh_worker=True,
                ) from None
            if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED):
                raise ComfyError(
                    f"ComfyUI closed the websocket before prompt {prompt_id} finished (did it crash?)",
                    refresh_worker=True,
                )
            if msg.type is aiohttp.WSMsgType.ERROR:
                raise ComfyError(f"The websocket to ComfyUI failed: {ws.exception()}", refresh_worker=True)
            if msg.type is not aiohttp.WSMsgType.TEXT:
                continue  # binary frames are image previews
            try:
                message = json.loads(msg.data)
            except ValueError:
                continue
            kind = message.get("type") if isinstance(message, dict) else None
            data = message.get("data") if isinstance(message, dict) else None
            if not isinstance(data, dict) or data.get("prompt_id", prompt_id) != prompt_id:
                continue  # status broadcasts, or another prompt's messages
            if kind == "progress":
                node = data.get("node")
                if node is not None:
                    on_event(str(node), int(data.get("value", 0)), int(data.get("max", 0)))
            elif kind == "executing":
                if data.get("node") is None:
                    return
                on_event(str(data["node"]), None, None)
            elif kind == "executed":
                output = data.get("output")
                if on_output is not None and data.get("node") is not None and isinstance(output, dict):
                    on_output(str(data["node"]), output)
            elif kind == "execution_success":
                return
            elif kind == "execution_error":
                node_id, node_type = str(data.get("node_id")), str(data.get("node_type"))
                exc_type = str(data.get("exception_type") or "Error")
                text = str(data.get("exception_message") or "").strip()
                raise PromptFailed(
                    f"ComfyUI failed in node {node_id} ({node_type}): {exc_type}: {text}",
                    node_id=node_id,
                    node_type=node_type,
                    exception_type=exc_type,
                    exception_message=text,
                )
            elif kind == "execution_interrupted":
                raise PromptInterrupted(
                    f"The prompt was interrupted on ComfyUI (in node {data.get('node_id')}) by someone other than "
                    "this job"
                )


def outcome(entry: dict[str, Any] | None) -> str:
    """How a prompt ended, from its `/history` entry ("removed" without one: it never ran)."""
    if entry is None:
        return "removed"
    status = entry.get("status") if isinstance(entry.get("status"), dict) else {}
    kinds = [m[0] for m in status.get("messages", []) if isinstance(m, list) and m]
    if "execution_interrupted" in kinds:
        return "interrupted"
    if "execution_error" in kinds or status.get("status_str") == "error":
        return "failed"
    return "finished"


def output_images(entry: dict[str, Any] | None, output_dir: Path) -> list[Path]:
    """The files a prompt's nodes saved into ComfyUI's output folder, from its `/history` entry."""
    found: list[Path] = []
    outputs = entry.get("outputs") if isinstance(entry, dict) else None
    for node_output in (outputs or {}).values():
        found.extend(node_images(node_output, output_dir))
    return found


def node_images(node_output: Any, output_dir: Path) -> list[Path]:
    """The files one node's output (an `executed` message's or a history entry's) names, in order."""
    found: list[Path] = []
    images = node_output.get("images") if isinstance(node_output, dict) else None
    for image in images if isinstance(images, list) else []:
        if not isinstance(image, dict) or image.get("type") != "output":
            continue
        name, sub = str(image.get("filename") or ""), str(image.get("subfolder") or "")
        if name and "/" not in name and "\\" not in name and name not in (".", "..") and ".." not in Path(sub).parts:
            found.append(output_dir / sub / name)
    return found


def prompt_error_text(answer: Any, raw: str) -> str:
    """ComfyUI's `/prompt` error answer as one line: the error, then each node's errors."""
    if not isinstance(answer, dict):
        return raw.strip()[:500] or "no answer"
    parts: list[str] = []
    error = answer.get("error")
    if isinstance(error, dict):
        parts.append(_message(error))
    elif isinstance(error, str):
        parts.append(error)
    node_errors = answer.get("node_errors")
    if isinstance(node_errors, dict):
        for node_id, info in node_errors.items():
            info = info if isinstance(info, dict) else {}
            errors = info.get("errors")
            errors = errors if isinstance(errors, list) else []
            text = "; ".join(_message(e) for e in errors if isinstance(e, dict)) or "invalid"
            parts.append(f"node {node_id} ({info.get('class_type', '?')}): {text}")
    return " | ".join(p for p in parts if p) or json.dumps(answer)[:500]


def _message(error: dict[str, Any]) -> str:
    message = str(error.get("message") or error.get("type") or "error")
    details = error.get("details")
    return f"{message}: {details}" if details else message
