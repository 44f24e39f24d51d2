"""The one road for the tunnel and the connection checks (`runtime.Services`), which the GUI's
tunnel panel, status bar and settings dialog and the CLI all call: the sandbox's stand-in ngrok
agent forwards for real, the endpoint is the simulated one over HTTP, the bucket a moto server."""

from __future__ import annotations

import dataclasses
import socket
from pathlib import Path

import pytest

from actor_trainer.core.errors import ActorTrainerError, StorageError
from actor_trainer.core.preflight import WebhookNotReadyError
from actor_trainer.core.settings import StorageConfig
from actor_trainer.core.tunnel import TunnelState
from tests.fixtures.s3 import S3Bucket, aws_env, s3_bucket, s3_server  # noqa: F401
from tests.integration.e2e_support import running


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.asyncio
async def test_tunnel_start_test_delivery_and_stop(tmp_path: Path) -> None:
    async with running(tmp_path, sync=False, webhook_mode="ngrok") as (services, _recorder):
        status = services.tunnel_status()
        assert (status.mode, status.state, status.public_url) == ("ngrok", TunnelState.STOPPED, None)
        assert status.simulated and status.server_port == services.webhook_server.port  # type: ignore[union-attr]
        with pytest.raises(WebhookNotReadyError, match="no public URL"):
            await services.test_delivery()  # not started, and not asked to start it

        result = await services.test_delivery(start_tunnel=True)
        status = services.tunnel_status()
        assert status.state is TunnelState.RUNNING and result.url == status.public_url
        assert result.url.startswith("http://127.0.0.1:") and result.seconds > 0
        again = await services.test_delivery()  # now through the running tunnel, without starting one
        assert again.url == result.url

        await services.stop_tunnel()
        status = services.tunnel_status()
        assert (status.state, status.public_url) == (TunnelState.STOPPED, None)
        await services.stop_tunnel()  # idempotent


@pytest.mark.asyncio
async def test_delivery_in_public_and_poll_modes(tmp_path: Path) -> None:
    nowhere = f"http://127.0.0.1:{closed_port()}"
    async with running(tmp_path / "public", sync=False, webhook_mode="public", public_url=nowhere) as (services, _):
        assert services.tunnel_status().public_url == nowhere
        with pytest.raises(ActorTrainerError, match="could not be reached"):
            await services.test_delivery()
        server = services.webhook_server
        assert server is not None
        result = await services.test_delivery(server.local_url)  # a URL that does reach this server
        assert result.url == server.local_url
    async with running(tmp_path / "poll", sync=False, webhook_mode="poll") as (services, _):
        status = services.tunnel_status()
        assert status.mode == "poll" and not status.has_server
        with pytest.raises(WebhookNotReadyError, match="Webhooks are off"):
            await services.test_delivery(start_tunnel=True)


@pytest.mark.asyncio
async def test_endpoint_health_of_the_running_endpoint_and_of_another(tmp_path: Path) -> None:
    async with running(tmp_path, sync=False) as (services, _recorder):
        health = await services.check_endpoint()
        assert health.sandbox and "Sandbox (simulation)" in health.summary()
        with pytest.raises(ActorTrainerError):
            await services.check_endpoint("nope", api_root=f"http://127.0.0.1:{closed_port()}/v2", api_key="k")


@pytest.mark.asyncio
async def test_storage_check_of_the_running_bucket_and_of_a_typed_one(tmp_path: Path, s3_bucket: S3Bucket) -> None:
    typed = StorageConfig(
        bucket=s3_bucket.bucket,
        prefix="studio",
        endpoint_url=s3_bucket.endpoint_url,
        region=s3_bucket.region,
        access_key_id=s3_bucket.access_key_id,
        secret_access_key=s3_bucket.secret_access_key,
        url_style="s3",
    )
    async with running(tmp_path, sync=False) as (services, _recorder):
        assert await services.check_storage()  # the sandbox's local folder
        answer = await services.check_storage(typed)
        assert f"bucket {s3_bucket.bucket!r} reachable" in answer and "under prefix 'studio/'" in answer
        with pytest.raises(StorageError):
            await services.check_storage(dataclasses.replace(typed, bucket=s3_bucket.bucket + "-missing"))
