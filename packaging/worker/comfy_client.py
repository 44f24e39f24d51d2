"""Run one prompt on the ComfyUI server beside the worker and follow it over the websocket.

ComfyUI's protocol (docs/training-workflow.md, "Progress over ComfyUI's websocket"): connect
`ws://host/ws?clientId=<id>` first, then `POST /prompt {"prompt": ..., "client_id": id}`; the
server then sends that client `executing`, `progress {value, max, node, prompt_id}`,
`execution_error` and, when the prompt is done, `executing {node: null}`.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from typing import Any

import aiohttp

#: Called with (node id, value, max) for every `progress` message, and with (node id, None, None)
#: when a node starts executing.
OnNodeEvent = Callable[[str, int | None, int | None], None]


class ComfyError(RuntimeError):
    """ComfyUI refused the prompt, failed running it, or could not be reached."""


async def run_prompt(
    comfy_url: str,
    workflow: dict[str, Any],
    on_event: OnNodeEvent,
    *,
    start_timeout: float = 300.0,
    idle_timeout: float = 1800.0,
) -> str:
    """Queue `workflow`, follow it until ComfyUI reports it finished, and return its prompt id.

    `start_timeout`: how long to wait for ComfyUI to accept a websocket (it may still be loading
    on a cold worker). `idle_timeout`: the longest silence tolerated while the prompt runs (model
    loading and latent caching send few messages). Raises ComfyError with ComfyUI's own message.
    """
    base = comfy_url.rstrip("/")
    client_id = uuid.uuid4().hex
    timeout = aiohttp.ClientTimeout(total=None, connect=15, sock_read=None)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        ws = await _connect(session, _ws_url(base, client_id), start_timeout)
        async with ws:
            prompt_id = await _queue(session, base, workflow, client_id)
            await _follow(ws, prompt_id, on_event, idle_timeout)
    return prompt_id


def _ws_url(base: str, client_id: str) -> str:
    scheme, _, rest = base.partition("://")
    return f"{'wss' if scheme == 'https' else 'ws'}://{rest}/ws?clientId={client_id}"


async def _connect(session: aiohttp.ClientSession, url: str, start_timeout: float) -> aiohttp.ClientWebSocketResponse:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + start_timeout
    while True:
        try:
            return await session.ws_connect(url, heartbeat=30, max_msg_size=0)
        except (aiohttp.ClientConnectionError, aiohttp.WSServerHandshakeError) as exc:
            if loop.time() >= deadline:
                raise ComfyError(f"ComfyUI did not accept a websocket within {start_timeout:.0f} s: {exc}") from exc
            await asyncio.sleep(1.0)


async def _queue(session: aiohttp.ClientSession, base: str, workflow: dict[str, Any], client_id: str) -> str:
    body = {"prompt": workflow, "client_id": client_id}
    async with session.post(f"{base}/prompt", json=body, timeout=aiohttp.ClientTimeout(total=60)) as response:
        text = await response.text()
        try:
            answer = json.loads(text)
        except ValueError:
            answer = None
    if response.status != 200 or not isinstance(answer, dict) or not answer.get("prompt_id"):
        raise ComfyError(f"ComfyUI refused the workflow (HTTP {response.status}): {prompt_error_text(answer, text)}")
    return str(answer["prompt_id"])


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


async def _follow(ws: aiohttp.ClientWebSocketResponse, prompt_id: str, on_event: OnNodeEvent, idle: float) -> None:
    while True:
        try:
            msg = await ws.receive(timeout=idle)
        except TimeoutError:
            raise ComfyError(f"ComfyUI sent nothing for {idle:.0f} s while running prompt {prompt_id}") from None
        if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED):
            raise ComfyError(f"ComfyUI closed the websocket before prompt {prompt_id} finished (did it crash?)")
        if msg.type is aiohttp.WSMsgType.ERROR:
            raise ComfyError(f"The websocket to ComfyUI failed: {ws.exception()}")
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
        elif kind == "execution_success":
            return
        elif kind == "execution_error":
            node = f"node {data.get('node_id')} ({data.get('node_type')})"
            kind, text = data.get("exception_type") or "Error", str(data.get("exception_message") or "").strip()
            raise ComfyError(f"ComfyUI failed in {node}: {kind}: {text}")
        elif kind == "execution_interrupted":
            raise ComfyError(f"The prompt was interrupted on ComfyUI (in node {data.get('node_id')})")
