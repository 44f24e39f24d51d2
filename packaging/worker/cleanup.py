"""What a job leaves on the worker's disk, and removing it: a warm worker starts each job clean.

FluxTrainer (639b3e8) writes into the workflow's `output_dir`:
- `{output_name}_args.json` and `{output_name}_workflow.json` (InitFluxLoRATraining, before it
  loads the models, so a failed job leaves them too);
- `{stem}-step00002000.safetensors` (FluxTrainSave: kohya's step checkpoint name, 8 digits) and,
  with `save_state`, `{stem}-step00002000-state/`;
- `{stem}-state/` (FluxTrainEnd, whose `save_state` defaults to true) and `{stem}.safetensors`,
  the LoRA (FluxTrainEnd);
- kohya's sample images under `sample/` when sampling is on;
where `stem` is `{output_name}_rank{network_dim}_{save_dtype}`. ComfyUI's SaveImage writes the loss
plot into ComfyUI's own output folder as `{filename_prefix}_00001_.png`.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterable
from pathlib import Path

from job_spec import Job

log = logging.getLogger("actor_trainer_worker")


def output_leftovers(spec: Job) -> list[Path]:
    """The files and folders of this job's run in its output folder (those that exist)."""
    folder = spec.output_dir
    if not folder.is_dir():
        return []
    found: list[Path] = [
        folder / f"{spec.stem}.safetensors",
        folder / f"{spec.output_name}_args.json",
        folder / f"{spec.output_name}_workflow.json",
        *folder.glob(f"{_escape(spec.stem)}-*"),  # step/epoch checkpoints, -state folders
    ]
    samples = folder / "sample"
    if samples.is_dir():
        found.extend(p for p in samples.iterdir() if p.name.startswith((spec.stem, spec.output_name)))
    return [p for p in found if p.exists() or p.is_symlink()]


def image_leftovers(prefixes: Iterable[str], reported: Iterable[Path], comfy_output_dir: Path | None) -> list[Path]:
    """ComfyUI's saved images of this job (the loss plot): those `/history` reported, and any
    `{prefix}_NNNNN_.png` of the workflow's SaveImage prefixes, inside ComfyUI's output folder only."""
    if comfy_output_dir is None:
        return []
    root = comfy_output_dir.resolve()
    found: list[Path] = []
    for path in reported:
        if _within(path, root) and path.is_file():
            found.append(path)
    for prefix in prefixes:
        if not prefix or "%" in prefix:
            continue  # a prefix with %date…% formatting cannot be matched safely
        base = root / prefix
        if not _within(base, root) or not base.parent.is_dir():
            continue
        found.extend(p for p in base.parent.glob(f"{_escape(base.name)}_[0-9][0-9][0-9][0-9][0-9]_.png") if p.is_file())
    return sorted(set(found))


def remove(paths: Iterable[Path]) -> list[str]:
    """Delete files and folders; return the problems (one line each) instead of raising."""
    problems: list[str] = []
    for path in paths:
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
        except OSError as exc:
            problems.append(f"{path}: {exc.strerror or exc}")
    return problems


def clean_job(
    spec: Job, *, work_dir: Path, comfy_output_dir: Path | None, reported_images: Iterable[Path]
) -> list[str]:
    """Remove everything this job put on the worker's disk; return the problems met."""
    paths = [*output_leftovers(spec), *image_leftovers(spec_image_prefixes(spec), reported_images, comfy_output_dir)]
    if spec.owns_dataset_dir and spec.dataset_dir.exists():
        paths.append(spec.dataset_dir)
    problems = remove(paths)
    for folder in (spec.output_dir / "sample", spec.output_dir):
        if work_dir.resolve() in folder.resolve().parents and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    if paths:
        log.info("removed %d file(s) and folder(s) of the job", len(paths) - len(problems))
    for problem in problems:
        log.warning("could not remove %s", problem)
    return problems


def spec_image_prefixes(spec: Job) -> list[str]:
    return [
        str(node["inputs"].get("filename_prefix", ""))
        for node in spec.workflow.values()
        if isinstance(node, dict) and node.get("class_type") == "SaveImage" and isinstance(node.get("inputs"), dict)
    ]


def _within(path: Path, root: Path) -> bool:
    resolved = path.resolve()
    return resolved == root or root in resolved.parents


def _escape(text: str) -> str:
    """`text` with glob's special characters escaped."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)
