"""The demo library's LoRAs, made real in the sandbox's bucket (issue 10, item 6).

The shipped demo library (data/, scripts/make_demo_library.py) names its completed versions' LoRAs
`s3://demo-bucket/actors/NNNN/models/…`: a bucket that exists nowhere. When the sandbox starts on a
library holding such records, each completed demo version gets a real, loadable simulated LoRA in
the sandbox's local bucket at the same key (its rank, alpha, save dtype and training facts from the
record; random weights, marked as a simulation), and its URLs — and the actor's validated model —
are rewritten to that file; a demo version without an endpoint is marked as the sandbox's.
Download and Open then work on the demo, and what it says about its LoRAs is true.
Idempotent: a second start finds nothing left to do. Blocking (file I/O, making LoRAs): run it in a thread.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from actor_trainer.core.errors import CorruptFileError
from actor_trainer.core.library import Library
from actor_trainer.core.models import Actor, TrainingVersion, VersionStatus
from actor_trainer.core.storage.base import Storage
from actor_trainer.core.storage.local import LocalStorage
from actor_trainer.sandbox.lora import make_lora_bytes, simulated_metadata

DEMO_BUCKET_URL = "s3://demo-bucket/"


@dataclass(frozen=True)
class DemoSeed:
    files_written: int
    records_updated: int


def is_demo_url(url: str | None) -> bool:
    return isinstance(url, str) and url.startswith(DEMO_BUCKET_URL)


def demo_lora_bytes(version: TrainingVersion) -> bytes:
    """The simulated LoRA of a demo version: deterministic from its job id."""
    p = version.parameters
    seed = zlib.crc32(version.id.encode())
    started = version.timestamp.timestamp()
    finished = version.completedAt.timestamp() if version.completedAt is not None else started
    metadata = simulated_metadata(
        output_name=(version.loraUrl or "").rsplit("/", 1)[-1].removesuffix(".safetensors") or version.name,
        learning_rate=p.learning_rate,
        max_train_steps=p.max_train_steps,
        image_count=max(1, version.imageCount),
        num_repeats=p.num_repeats,
        batch_size=p.batch_size,
        optimizer=p.optimizer_type or "adamw8bit",
        lr_scheduler=p.lr_scheduler or "constant",
        seed=seed,
        started_at=started,
        finished_at=finished,
    )
    return make_lora_bytes(
        network_dim=p.network_dim,
        network_alpha=p.network_alpha,
        metadata=metadata,
        seed=seed,
        blocks=1,
        save_dtype=p.save_dtype,
    )


def seed_demo_bucket(library: Library, storage: Storage) -> DemoSeed:
    """Put every completed demo version's LoRA in the local bucket and point its records at it."""
    if not isinstance(storage, LocalStorage):
        return DemoSeed(0, 0)  # a real bucket: the demo's records are left as they are
    written = updated = 0
    local_urls: dict[str, str] = {}
    for actor in library.load_actors():
        try:
            versions = library.load_versions(actor.id)
        except CorruptFileError:  # blocks its own actor only (the commands for it name the file)
            continue
        for version in versions:
            demo = [name for name in ("loraUrl", "outputUrl") if is_demo_url(getattr(version, name))]
            if not demo:
                continue
            for name in demo:
                url = getattr(version, name)
                local_urls[url] = storage.url_for_key(url[len(DEMO_BUCKET_URL) :])
            if version.status is VersionStatus.COMPLETED and is_demo_url(version.loraUrl):
                assert version.loraUrl is not None
                path = storage.path_for_key(version.loraUrl[len(DEMO_BUCKET_URL) :])
                if not path.is_file():
                    # the storage's own atomic write (file, then its MD5 sidecar)
                    storage._write_blocking(
                        storage.url_for_key(version.loraUrl[len(DEMO_BUCKET_URL) :]), demo_lora_bytes(version), {}
                    )
                    written += 1

            def point_at_bucket(v: TrainingVersion, names: list[str] = demo) -> None:
                for field in names:
                    current = getattr(v, field)
                    if is_demo_url(current):
                        setattr(v, field, local_urls[current])
                if v.endpoint is None:
                    v.endpoint = "sandbox"  # its LoRA is the sandbox's: random weights, and it says so

            library.update_version(actor.id, version.key, point_at_bucket)
            updated += 1
        validated = actor.validated_lora_model
        if validated is not None and validated.lora_url in local_urls:

            def point_validated(a: Actor) -> None:
                if a.validated_lora_model is not None and a.validated_lora_model.lora_url in local_urls:
                    a.validated_lora_model.lora_url = local_urls[a.validated_lora_model.lora_url]

            library.update_actor(actor.id, point_validated)
            updated += 1
    return DemoSeed(written, updated)
