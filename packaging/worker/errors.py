"""The worker's errors, and how a failure reported by ComfyUI becomes a sentence an operator can act on.

Every error the worker raises is a WorkerError. `refresh_worker` says the worker itself is broken
(ComfyUI unreachable or stuck, the GPU failed): the RunPod entry point then returns
`{"error": ..., "refresh_worker": true}` so that RunPod replaces the worker after the job instead
of sending it the next one.
"""

from __future__ import annotations

from dataclasses import dataclass


class WorkerError(RuntimeError):
    """A job failed; the message says why and what to do."""

    def __init__(self, message: str, *, refresh_worker: bool = False) -> None:
        super().__init__(message)
        self.refresh_worker = refresh_worker


class JobInputError(WorkerError, ValueError):
    """The job input does not follow the contract; nothing was downloaded or run."""


class TransferError(WorkerError):
    """A training file could not be downloaded, or the LoRA could not be uploaded."""


class TransferAborted(TransferError):
    """A transfer was stopped because the job was cancelled."""


class DatasetError(WorkerError):
    """The training data, as the trainer would read it, cannot be trained on."""


class ComfyError(WorkerError):
    """ComfyUI refused the prompt, failed running it, or could not be reached."""


class LoraMissingError(WorkerError):
    """ComfyUI finished, but the LoRA file is not where FluxTrainer writes it."""


@dataclass(frozen=True)
class TrainingShape:
    """The workflow's settings that decide the GPU memory a training needs (for the OOM advice)."""

    network_dim: int
    width: int
    height: int
    max_bucket_reso: int
    batch_size: int
    blocks_to_swap: int


#: Phrases of torch/CUDA errors after which the GPU or its driver is in an unknown state.
_GPU_BROKEN = (
    "cuda error",
    "cublas_status",
    "cudnn_status",
    "cudnn error",
    "device-side assert",
    "illegal memory access",
    "unspecified launch failure",
    "no kernel image is available",
    "cuda driver version is insufficient",
    "found no nvidia driver",
    "no cuda gpus are available",
    "nvml",
    "ecc error",
)
_OUT_OF_MEMORY = ("out of memory", "outofmemoryerror")


def is_out_of_memory(exception_type: str, message: str) -> bool:
    text = f"{exception_type} {message}".lower()
    return any(p in text for p in _OUT_OF_MEMORY)


def is_gpu_broken(exception_type: str, message: str) -> bool:
    text = f"{exception_type} {message}".lower()
    return not is_out_of_memory(exception_type, message) and any(p in text for p in _GPU_BROKEN)


def is_model_file_error(exception_type: str, message: str) -> bool:
    """A safetensors file that cannot be read (safetensors' SafetensorError, or a torch load error)."""
    text = f"{exception_type} {message}".lower()
    return (
        "safetensor" in text
        or "deserializing header" in text
        or "headertoolarge" in text
        or "incomplete metadata" in text
        or "invalid load key" in text
    )


def first_line(text: str, limit: int = 300) -> str:
    line = next((s.strip() for s in text.splitlines() if s.strip()), "")
    return line if len(line) <= limit else line[: limit - 1] + "…"


def out_of_memory_message(node: str, shape: TrainingShape, detail: str) -> str:
    biggest = max(shape.width, shape.height, shape.max_bucket_reso)
    swap = (
        "raise blocks_to_swap (e.g. 18) to trade speed for memory, "
        if shape.blocks_to_swap == 0
        else f"raise blocks_to_swap above {shape.blocks_to_swap}, "
    )
    return (
        f"The GPU ran out of memory in {node} (rank {shape.network_dim}, "
        f"{shape.width}×{shape.height} with buckets up to {biggest} px, batch size {shape.batch_size}). "
        f"Lower the rank (network_dim), the resolution (width/height and max_bucket_reso) or the batch size, "
        f"{swap}or choose a GPU with more memory. ComfyUI said: {first_line(detail)}"
    )


def gpu_broken_message(node: str, exception_type: str, detail: str) -> str:
    return (
        f"The GPU failed in {node} ({exception_type}: {first_line(detail)}). The worker is being replaced "
        "(refresh_worker); submit the job again. If it happens on every worker, check the endpoint's GPU "
        "type and its allowed CUDA versions (this image needs a driver for CUDA 13)."
    )


def unreachable_message(url: str, seconds: float, reason: str) -> str:
    return (
        f"ComfyUI at {url} did not answer within {seconds:g} s ({reason}). It did not start or has crashed: "
        "the worker's log shows why (a custom node that failed to import, a missing package, a full disk). "
        "The worker is being replaced (refresh_worker)."
    )


__all__ = [
    "ComfyError",
    "DatasetError",
    "JobInputError",
    "LoraMissingError",
    "TrainingShape",
    "TransferAborted",
    "TransferError",
    "WorkerError",
    "first_line",
    "gpu_broken_message",
    "is_gpu_broken",
    "is_model_file_error",
    "is_out_of_memory",
    "out_of_memory_message",
    "unreachable_message",
]
