"""Training history of the demo library: completed, failed and cancelled runs, one validated model.

Records follow `TrainingVersion` (actor_trainer/core/models.py) key for key; the failures carry the
messages and tracebacks real workers produce. Every run is terminal: the demo never makes the app
reconcile a job that no endpoint knows.
"""

from __future__ import annotations

import math
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

BUCKET = "demo-bucket"
BASE_MODEL = "flux1-dev"

# Which actor's model is the one validated ("marked as good") model of the demo.
VALIDATED = (0, "V3")


def lora_url(actor_id: int, version: str) -> str:
    return f"s3://{BUCKET}/actors/{actor_id:04d}/models/actor_{actor_id:04d}_{version}.safetensors"


_OOM_TRACEBACK = """Traceback (most recent call last):
  File "/comfyui/execution.py", line 327, in execute
    output_data, output_ui, has_subgraph = get_output_data(obj, input_data_all, execution_block_cb=execution_block_cb)
  File "/comfyui/execution.py", line 202, in get_output_data
    return_values = _map_node_over_list(obj, input_data_all, obj.FUNCTION, allow_interrupt=True)
  File "/comfyui/custom_nodes/ComfyUI-FluxTrainer/nodes.py", line 1103, in train
    loss = training_loop(break_at_steps=steps, epoch=epoch)
  File "/comfyui/custom_nodes/ComfyUI-FluxTrainer/train_network.py", line 1042, in training_loop
    accelerator.backward(loss)
  File "/usr/local/lib/python3.11/site-packages/accelerate/accelerator.py", line 2246, in backward
    loss.backward(**kwargs)
  File "/usr/local/lib/python3.11/site-packages/torch/_tensor.py", line 581, in backward
    torch.autograd.backward(
torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.25 GiB. GPU 0 has a total capacity of \
23.65 GiB of which 1.12 GiB is free. Process 41 has 22.52 GiB memory in use. Of the allocated memory \
20.87 GiB is allocated by PyTorch, and 1.19 GiB is reserved by PyTorch but unallocated. If reserved but \
unallocated memory is large try setting PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True to avoid \
fragmentation.
"""

_OPTIMIZER_TRACEBACK = """Traceback (most recent call last):
  File "/comfyui/execution.py", line 327, in execute
    output_data, output_ui, has_subgraph = get_output_data(obj, input_data_all, execution_block_cb=execution_block_cb)
  File "/comfyui/custom_nodes/ComfyUI-FluxTrainer/nodes.py", line 812, in init_training
    training_loop = network_trainer.init_train(args)
  File "/comfyui/custom_nodes/ComfyUI-FluxTrainer/train_network.py", line 604, in init_train
    optimizer_name, optimizer_args, optimizer = train_util.get_optimizer(args, trainable_params)
  File "/comfyui/custom_nodes/ComfyUI-FluxTrainer/library/train_util.py", line 4421, in get_optimizer
    raise ValueError(f"optimizer {optimizer_type} is not supported: {reason}")
ValueError: optimizer AdEMAMix8bit is not supported: bitsandbytes 0.43.1 has no AdEMAMix8bit (0.44 or newer \
is needed)
"""

_DOWNLOAD_TRACEBACK = """Traceback (most recent call last):
  File "/handler.py", line 88, in download_training_data
    s3.download_file(bucket, key, str(target))
  File "/usr/local/lib/python3.11/site-packages/boto3/s3/transfer.py", line 406, in download_file
    future.result()
  File "/usr/local/lib/python3.11/site-packages/s3transfer/futures.py", line 103, in result
    return self._coordinator.result()
botocore.exceptions.ClientError: An error occurred (403) when calling the HeadObject operation: Forbidden
"""

ERRORS: dict[str, dict[str, Any]] = {
    "oom": {
        "message": "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.25 GiB. GPU 0 has a total "
        "capacity of 23.65 GiB of which 1.12 GiB is free.",
        "details": {
            "error_type": "torch.OutOfMemoryError",
            "error_message": "CUDA out of memory. Tried to allocate 2.25 GiB. GPU 0 has a total capacity of "
            "23.65 GiB of which 1.12 GiB is free.",
            "error_traceback": _OOM_TRACEBACK,
            "hostname": "5f1c2a9e7b41",
            "worker_id": "8m2kq4x7c1v9ze",
        },
    },
    "optimizer": {
        "message": "ValueError: optimizer AdEMAMix8bit is not supported: bitsandbytes 0.43.1 has no AdEMAMix8bit "
        "(0.44 or newer is needed)",
        "details": {
            "error_type": "ValueError",
            "error_message": "optimizer AdEMAMix8bit is not supported: bitsandbytes 0.43.1 has no AdEMAMix8bit "
            "(0.44 or newer is needed)",
            "error_traceback": _OPTIMIZER_TRACEBACK,
            "hostname": "a03b8d61c2f7",
            "worker_id": "3t9wd0hj5pq2lk",
        },
    },
    "download": {
        "message": "botocore.exceptions.ClientError: Could not download training file "
        "s3://demo-bucket/actors/0006/training_data/0006_03.jpg: An error occurred (403) when calling the "
        "HeadObject operation: Forbidden",
        "details": {
            "error_type": "botocore.exceptions.ClientError",
            "error_message": "Could not download training file s3://demo-bucket/actors/0006/training_data/"
            "0006_03.jpg: An error occurred (403) when calling the HeadObject operation: Forbidden",
            "error_traceback": _DOWNLOAD_TRACEBACK,
            "hostname": "c7e90f1d4a25",
            "worker_id": "6yq1nb8r0fs4mw",
        },
    },
}


@dataclass(frozen=True)
class Run:
    """One past run of an actor, as planned for the demo."""

    name: str
    status: str  # completed | failed | cancelled
    started: datetime
    minutes: int  # how long until it ended
    images: int
    description: str
    params: dict[str, Any] = field(default_factory=dict)
    error: str | None = None  # a key of ERRORS
    failed_at_step: int = 0


def _at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2025, 1, day, hour, minute, tzinfo=UTC)


# Oldest first here; written newest first.
RUNS: dict[int, list[Run]] = {
    0: [
        Run(
            "V1",
            "failed",
            _at(13, 10, 5),
            4,
            15,
            "First try with the new 8-bit optimizer.",
            {"optimizer_type": "AdEMAMix8bit"},
            error="optimizer",
        ),
        Run(
            "V2",
            "completed",
            _at(13, 11, 20),
            38,
            15,
            "Defaults, 1200 steps: likeness still weak.",
            {"max_train_steps": 1200},
        ),
        Run(
            "V3",
            "completed",
            _at(15, 9, 40),
            61,
            18,
            "Added three close-ups; rank 16, alpha 8, lr 2.5e-4.",
            {"network_dim": 16, "network_alpha": 8.0, "learning_rate": 0.00025},
        ),
    ],
    1: [
        Run(
            "V1",
            "failed",
            _at(14, 16, 0),
            9,
            14,
            "Batch 4 at 1024 px to go faster.",
            {"batch_size": 4, "resolution": 1024, "max_train_steps": 1500},
            error="oom",
            failed_at_step=212,
        ),
        Run(
            "V2",
            "completed",
            _at(14, 17, 30),
            57,
            14,
            "Back to batch 1 at 512 px.",
            {"network_dim": 16, "network_alpha": 8.0, "learning_rate": 0.00025},
        ),
    ],
    2: [
        Run("V1", "completed", _at(16, 14, 10), 66, 22, "Baseline with the defaults."),
        Run(
            "V2",
            "cancelled",
            _at(17, 9, 0),
            12,
            22,
            "Cosine schedule test; stopped: wrong trigger word.",
            {"lr_scheduler": "cosine", "lr_warmup_steps": 100, "trigger": "kenji lawyer"},
            failed_at_step=340,
        ),
    ],
    5: [
        Run(
            "V1",
            "completed",
            _at(18, 11, 0),
            52,
            12,
            "Defaults, 10 images.",
            {"max_train_steps": 1800, "num_repeats": 2},
        ),
    ],
    6: [
        Run(
            "V1",
            "failed",
            _at(20, 8, 30),
            2,
            16,
            "First run after moving the images to the new bucket.",
            error="download",
        ),
    ],
    10: [
        Run("V1", "completed", _at(21, 13, 0), 63, 20, "Defaults."),
        Run(
            "V2",
            "completed",
            _at(22, 10, 15),
            71,
            25,
            "All 25 images, 2500 steps, rank 16.",
            {"max_train_steps": 2500, "network_dim": 16, "network_alpha": 8.0},
        ),
    ],
}


def _job_id(rng: random.Random) -> str:
    # RunPod job ids are UUIDs with a data-centre suffix; the suffix is part of the id.
    return f"{uuid.UUID(int=rng.getrandbits(128), version=4)}-e1"


def build_versions(actor_id: int, rng: random.Random) -> list[dict[str, Any]]:
    """The versions file content of one actor (newest first), as plain JSON-ready dicts."""
    records = []
    for run in RUNS.get(actor_id, []):
        params = {"learning_rate": 0.0004, "max_train_steps": 2000, "network_dim": 8, "network_alpha": 1.0}
        params.update(run.params)
        ended = run.started + timedelta(minutes=run.minutes)
        url = lora_url(actor_id, run.name)
        steps = int(params["max_train_steps"])
        record: dict[str, Any] = {
            "id": _job_id(rng),
            "name": run.name,
            "status": run.status,
            "loraUrl": url if run.status == "completed" else None,
            "parameters": params,
            "timestamp": run.started,
            "imageCount": run.images,
            "isGood": (actor_id, run.name) == VALIDATED,
            "description": run.description,
            "requestId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "outputUrl": url,
            "runpodStatus": run.status.upper(),
        }
        if run.status == "completed":
            record["completedAt"] = ended
            record["progress"] = {
                "phase": "uploading",
                "step": steps,
                "total": steps,
                "loss": round(rng.uniform(0.06, 0.12), 4),
                "updatedAt": ended,
            }
            record["lossHistory"] = loss_history(actor_id, run.name, steps, record["progress"]["loss"])
            dim = int(params["network_dim"])
            record["output"] = {
                "status": "success",
                "loraUrl": url,
                "loraName": url.rsplit("/", 1)[1],
                "model_info": {
                    "size_bytes": 4_784_128 * dim + rng.randrange(20_000, 40_000),
                    "sha256": f"{rng.getrandbits(256):064x}",
                    "network_dim": dim,
                    "network_alpha": params["network_alpha"],
                    "max_train_steps": steps,
                    "learning_rate": params["learning_rate"],
                    "base_model": BASE_MODEL,
                },
            }
        else:
            record["failedAt"] = ended
            if run.failed_at_step:
                record["progress"] = {
                    "phase": "training",
                    "step": run.failed_at_step,
                    "total": steps,
                    "loss": round(rng.uniform(0.2, 0.4), 4),
                    "updatedAt": ended,
                }
                record["lossHistory"] = loss_history(actor_id, run.name, run.failed_at_step, record["progress"]["loss"])
            if run.error:
                record["error"] = ERRORS[run.error]
        records.append(record)
    return list(reversed(records))


def loss_history(actor_id: int, name: str, last_step: int, last_loss: float) -> list[list[float]]:
    """A plausible loss curve, one point every 25 steps, that ends at the record's last report
    (its own random stream, so adding it changed none of the other demo values)."""
    rng = random.Random(f"loss-{actor_id}-{name}")
    start = last_loss + rng.uniform(0.25, 0.4)
    points: list[list[float]] = []
    for step in range(25, last_step, 25):
        fall = math.exp(-4.0 * step / max(last_step, 1))
        points.append([step, round(last_loss + (start - last_loss) * fall + rng.gauss(0, 0.012), 4)])
    points.append([last_step, last_loss])
    return points


def validated_model(versions: list[dict[str, Any]], version_name: str) -> dict[str, Any]:
    """The actor record's `validated_lora_model` for one of its versions (marked the next morning)."""
    version = next(v for v in versions if v["name"] == version_name)
    marked = (version["completedAt"] + timedelta(days=1)).replace(hour=9, minute=12)
    return {
        "version_id": version["id"],
        "version_name": version["name"],
        "lora_url": version["loraUrl"],
        "marked_at": marked,
    }
