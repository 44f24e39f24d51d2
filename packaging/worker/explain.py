"""A failure ComfyUI reported, rewritten as what an operator can act on (docs/worker-contract.md)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from comfy_client import PromptFailed
from errors import (
    ComfyError,
    first_line,
    gpu_broken_message,
    is_gpu_broken,
    is_model_file_error,
    is_out_of_memory,
    out_of_memory_message,
)
from job_spec import Job
from model_check import diagnose


def explain(exc: Exception, spec: Job, model_roots: Sequence[Path]) -> Exception:
    """`exc` as an operator can act on it, or `exc` itself. Blocking (reads model file headers)."""
    if not isinstance(exc, PromptFailed):
        return exc
    node = f"node {exc.node_id} ({exc.node_type})"
    kind, detail = exc.exception_type, exc.exception_message
    if is_out_of_memory(kind, detail):
        return ComfyError(out_of_memory_message(node, spec.shape, detail))
    if is_gpu_broken(kind, detail):
        return ComfyError(gpu_broken_message(node, kind, detail), refresh_worker=True)
    if is_model_file_error(kind, detail):
        problems = diagnose(spec.models, model_roots)
        said = f"ComfyUI said: {kind}: {first_line(detail)}"
        if problems:
            return ComfyError(f"{node} could not load the Flux models. {' '.join(problems)} ({said})")
        files = ", ".join(spec.models.values()) or "the models"
        roots = ", ".join(str(r) for r in model_roots) or "the model folders"
        return ComfyError(
            f"{node} could not read a model file ({said}). {files} under {roots} read as complete "
            "safetensors files here: check the workflow's model names and ComfyUI's extra_model_paths.yaml."
        )
    return exc
