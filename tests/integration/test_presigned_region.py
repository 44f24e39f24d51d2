"""Presigned mode (issue 9, item 8): URLs are signed for the bucket's own region when none is set
(found with HeadBucket's x-amz-bucket-region), and live at least as long as the job's ttl. moto
checks neither signatures nor expiry, so the test reads what the URL says: its credential scope
names the region, X-Amz-Expires the lifetime."""

from __future__ import annotations

import math
import re
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from actor_trainer.core.models import TrainingParameters
from actor_trainer.core.request_builder import build_run_request, job_ttl_ms
from actor_trainer.core.storage.s3 import S3Storage
from tests.fixtures.s3 import S3Bucket, aws_env, make_client, s3_bucket, s3_server  # noqa: F401
from tests.library_factory import make_library


def signed_region(url: str) -> str:
    credential = parse_qs(urlparse(url).query)["X-Amz-Credential"][0]
    return credential.split("/")[2]


def expires(url: str) -> int:
    return int(parse_qs(urlparse(url).query)["X-Amz-Expires"][0])


@pytest.mark.asyncio
async def test_presigned_urls_are_signed_for_the_buckets_region(s3_server: str, aws_env: None) -> None:
    client = make_client(s3_server)
    client.create_bucket(Bucket="eu-bucket-test", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    client.put_object(Bucket="eu-bucket-test", Key="actors/0000/training_data/a.png", Body=b"png")
    try:
        # No region configured (the client's own default is us-east-1, from the environment).
        storage = S3Storage(
            "eu-bucket-test",
            endpoint_url=s3_server,
            access_key_id="testing",
            secret_access_key="testing",
            url_style="presigned",
        )
        assert storage.region is None and storage.boto3_client().meta.region_name == "us-east-1"
        assert storage.bucket_region() == "eu-west-1"
        url = await storage.presign_url(storage.training_data_url(0, "a.png"), 3600)
        assert signed_region(url) == "eu-west-1"
        async with httpx.AsyncClient() as http:
            assert (await http.get(url)).content == b"png"
        # A configured region is used as it is, without asking.
        fixed = S3Storage(
            "eu-bucket-test",
            endpoint_url=s3_server,
            region="eu-west-1",
            access_key_id="testing",
            secret_access_key="testing",
            url_style="presigned",
        )
        assert signed_region(await fixed.presign_url(fixed.training_data_url(0, "a.png"), 60)) == "eu-west-1"
    finally:
        client.delete_object(Bucket="eu-bucket-test", Key="actors/0000/training_data/a.png")
        client.delete_bucket(Bucket="eu-bucket-test")


@pytest.mark.parametrize("steps", [100, 2000, 60000])
def test_the_job_ttl_is_the_one_in_the_request(steps: int) -> None:
    from actor_trainer.core.models import Actor

    params = TrainingParameters(max_train_steps=steps)
    actor = Actor(id=0, name="0000_x")
    built = build_run_request(
        actor=actor,
        params=params,
        version_name="V1",
        training_urls=["s3://b/k.png"] * 12,
        output_url="s3://b/o.safetensors",
        webhook_base_url=None,
    )
    assert built.body["policy"]["ttl"] == job_ttl_ms(params, 12)


@pytest.mark.asyncio
async def test_submitted_presigned_urls_outlive_the_job_ttl(tmp_path: Path, s3_bucket: S3Bucket) -> None:
    from actor_trainer.core.events import EventBus
    from actor_trainer.core.library import Library
    from actor_trainer.core.orchestrator import TrainingOrchestrator
    from tests.fixtures.sandbox import fast_client, running_sandbox

    lib = make_library(tmp_path / "lib", images={0: 3})
    library = Library(lib)
    storage = s3_bucket.storage(url_style="presigned")
    scan = library.scan_training_data(0)
    assert (await storage.sync(0, scan.files)).ok
    params = TrainingParameters(max_train_steps=40000, network_dim=4, network_alpha=4)  # a ttl over a day
    async with running_sandbox() as endpoint, fast_client(endpoint) as client:
        orchestrator = TrainingOrchestrator(
            library=library,
            storage=storage,
            client=client,
            events=EventBus(),
            endpoint_label="SANDBOX",
            webhook_base=lambda: None,
            presign_urls=True,
        )
        version = await orchestrator.submit(0, params)
        job = endpoint.jobs[version.job_id or version.id]
        urls = job.input["training_data"]["s3_urls"]
        ttl_s = math.ceil(job_ttl_ms(params, len(urls)) / 1000)
        assert ttl_s > 24 * 3600  # longer than the old fixed day
        assert all(re.match(r"https?://", u) for u in urls)
        assert all(expires(u) >= ttl_s for u in urls)
        await orchestrator.cancel(0, version.id)


@pytest.mark.asyncio
async def test_v2_sample_and_checkpoint_urls_are_presigned_puts_that_outlive_the_job(
    tmp_path: Path, s3_bucket: S3Bucket
) -> None:
    from actor_trainer.core.events import EventBus
    from actor_trainer.core.library import Library
    from actor_trainer.core.models import SampleSettings
    from actor_trainer.core.orchestrator import TrainingOrchestrator
    from tests.fixtures.sandbox import fast_client, running_sandbox

    lib = make_library(tmp_path / "lib", images={0: 3})
    library = Library(lib)
    storage = s3_bucket.storage(url_style="presigned")
    assert (await storage.sync(0, library.scan_training_data(0).files)).ok
    params = TrainingParameters(
        max_train_steps=1000, network_dim=4, network_alpha=4, sampling=SampleSettings(every=500, keep_checkpoints=True)
    )
    async with running_sandbox() as endpoint, fast_client(endpoint) as client:
        orchestrator = TrainingOrchestrator(
            library=library,
            storage=storage,
            client=client,
            events=EventBus(),
            endpoint_label="SANDBOX",
            webhook_base=lambda: None,
            presign_urls=True,
        )
        orchestrator.contract_version = lambda: 2  # as runtime.Services wires it for a v2 endpoint
        built, _pre = await orchestrator.dry_run(0, params)
    config = built.body["input"]["training_config"]
    samples = [u for row in config["sample_urls"] for u in row]
    checkpoints = list(config["checkpoint_urls"].values())
    assert len(samples) == 2 * 4 and checkpoints  # 2 sample steps × 4 prompts; the kept step-500 LoRA
    uploads = samples + checkpoints
    ttl_s = math.ceil(job_ttl_ms(params, 3, contract_version=2) / 1000)
    assert all(re.match(r"https?://", u) and "Signature=" in u for u in uploads)
    assert all(expires(u) >= ttl_s for u in uploads)
    assert "/samples/step000500_p00.png" in config["sample_urls"][0][0]
