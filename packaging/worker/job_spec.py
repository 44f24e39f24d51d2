"""A job's input checked against the worker contract, and the training graph read the way FluxTrainer runs it.

Contract versions 1 and 2 (docs/worker-contract.md): v2 adds sampling while training
(`training_config.sampling`, `sample_urls`), checkpoint uploads (`checkpoint_urls`) and the
generate task (read by generate.py). A v1 job reads exactly as before.

`read_job` raises JobInputError (or DatasetError when no file is an image the trainer reads)
before anything is downloaded or queued.
"""

from __future__ import annotations

import copy
import posixpath
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any

from dataset import IMAGE_EXTENSIONS, normalise_name
from errors import DatasetError, JobInputError, TrainingShape
from transfer import file_name_of, parse_s3_url, redact

#: The highest contract version this worker speaks (and states in its progress and results).
CONTRACT_VERSION = 2
SUPPORTED_VERSIONS = (1, 2)
#: Where the workflows built by the app put the dataset and output folders.
WORKFLOW_ROOT = PurePosixPath("/workspace")


@dataclass(frozen=True)
class SamplingSpec:
    """`training_config.sampling` with its URLs: sample_urls[step][prompt index]."""

    prompts: tuple[str, ...]
    seed: int
    steps: tuple[int, ...]
    urls: dict[int, tuple[str, ...]]


@dataclass(frozen=True)
class Job:
    """A validated job: what to download, what to run, where the result goes, what it leaves on disk."""

    urls: tuple[str, ...]
    names: tuple[str, ...]  # the local file names, extensions lower-cased for kohya
    output_url: str
    workflow: dict[str, Any]  # with the dataset and output folders relocated under work_dir
    dataset_dir: Path
    #: The dataset folder lies inside work_dir: the worker may empty it before and after the job.
    owns_dataset_dir: bool
    output_dir: Path
    output_name: str
    #: `{output_name}_rank{network_dim}_{save_dtype}`: FluxTrainer's file stem for this run.
    stem: str
    init_node: str
    loops: tuple[tuple[str, int], ...]  # (FluxTrainLoop node id, steps), in execution order
    save_nodes: frozenset[str]
    network_dim: int
    network_alpha: float
    learning_rate: float
    max_train_steps: int
    trigger: str  # TrainDatasetAdd.class_tokens, which FluxTrainer prepends to every caption
    caption_extension: str
    models: dict[str, str]  # FluxTrainModelSelect input → file name
    shape: TrainingShape
    # --- contract v2 (defaults: a v1 job) ---
    contract_version: int = 1
    #: FluxTrainValidate node → the global step it samples at; SaveImage node → that step
    validate_nodes: dict[str, int] = field(default_factory=dict)
    sample_saves: dict[str, int] = field(default_factory=dict)
    #: intermediate FluxTrainSave node → the step of the checkpoint it writes
    checkpoint_nodes: dict[str, int] = field(default_factory=dict)
    #: the job's sampling (None: no samples uploaded) and kept checkpoints (step → URL)
    sampling: SamplingSpec | None = None
    checkpoint_urls: dict[int, str] = field(default_factory=dict)

    def checkpoint_file(self, step: int) -> Path:
        """The LoRA FluxTrainSave writes after `step`: `{stem}-step{step:08d}.safetensors`."""
        return self.output_dir / f"{self.stem}-step{step:08d}.safetensors"

    @property
    def output_file(self) -> Path:
        """The LoRA FluxTrainEnd writes."""
        return self.output_dir / f"{self.stem}.safetensors"


def read_job(job: Any, work_dir: Path) -> Job:
    """Check `job["input"]` against the contract and read the training graph."""
    job_input = job.get("input") if isinstance(job, dict) else None
    if not isinstance(job_input, dict):
        raise JobInputError("The job has no input object.")
    task = job_input.get("task")
    if task not in (None, "train"):
        raise JobInputError(f"Unsupported task {task!r}: this worker runs 'train' and 'generate'.")
    config = _object(job_input, "training_config")
    version = config.get("contract_version", 1)
    if version not in SUPPORTED_VERSIONS:
        raise JobInputError(
            f"Unsupported contract_version {version!r}: this worker speaks versions "
            f"{', '.join(map(str, SUPPORTED_VERSIONS))}."
        )
    urls = _object(job_input, "training_data").get("s3_urls")
    if not isinstance(urls, list) or not urls:
        raise JobInputError("training_data.s3_urls is empty: there is nothing to train on.")
    if any(not isinstance(u, str) or not u.strip() for u in urls):
        raise JobInputError("training_data.s3_urls holds an empty or non-text URL.")
    output_url = config.get("output_url")
    if not isinstance(output_url, str) or not output_url.startswith("s3://"):
        raise JobInputError("training_config.output_url must be an s3://bucket/key URL.")
    try:
        parse_s3_url(output_url)
        raw_names = tuple(file_name_of(u) for u in urls)
    except JobInputError:
        raise
    except Exception as exc:
        raise JobInputError(str(exc)) from None
    workflow = job_input.get("workflow")
    if not isinstance(workflow, dict) or not workflow:
        raise JobInputError("The job input has no workflow.")
    spec = _read_workflow(copy.deepcopy(workflow), tuple(urls), raw_names, output_url, work_dir)
    return _read_v2(spec, config, int(version))


def _upload_url(url: Any, what: str) -> str:
    if not isinstance(url, str) or not url.startswith(("s3://", "https://", "http://")):
        raise JobInputError(f"{what} must be an s3:// or https:// URL.")
    if url.startswith("s3://"):
        parse_s3_url(url)
    return url


def _read_v2(spec: Job, config: dict[str, Any], version: int) -> Job:
    """The v2 fields of `training_config`, checked against the graph (which steps it samples and saves)."""
    if version < 2:
        return spec
    sampling_raw, urls_raw = config.get("sampling"), config.get("sample_urls")
    sampling = None
    if sampling_raw is not None:
        if not isinstance(sampling_raw, dict) or not isinstance(urls_raw, list):
            raise JobInputError("training_config.sampling needs an object and sample_urls a list.")
        prompts, steps = sampling_raw.get("prompts"), sampling_raw.get("sample_steps")
        if not isinstance(prompts, list) or not prompts or not all(isinstance(p, str) and p for p in prompts):
            raise JobInputError("training_config.sampling.prompts must list the sample prompts.")
        if not isinstance(steps, list) or not steps or not all(isinstance(x, int) and x > 0 for x in steps):
            raise JobInputError("training_config.sampling.sample_steps must list positive steps.")
        if len(urls_raw) != len(steps) or any(not isinstance(r, list) or len(r) != len(prompts) for r in urls_raw):
            raise JobInputError(
                f"training_config.sample_urls must hold {len(steps)} lists of {len(prompts)} URLs "
                "(one per prompt per sample step)."
            )
        graph_steps = sorted(spec.sample_saves.values())
        if graph_steps != sorted(steps):
            raise JobInputError(
                f"The workflow samples at steps {graph_steps}, but training_config.sampling.sample_steps is {steps}."
            )
        urls = {
            step: tuple(_upload_url(u, f"sample_urls[{i}][{j}]") for j, u in enumerate(row))
            for i, (step, row) in enumerate(zip(steps, urls_raw, strict=True))
        }
        sampling = SamplingSpec(
            prompts=tuple(prompts), seed=int(sampling_raw.get("seed", 0)), steps=tuple(steps), urls=urls
        )
    checkpoints: dict[int, str] = {}
    raw = config.get("checkpoint_urls")
    if raw is not None:
        if not isinstance(raw, dict):
            raise JobInputError("training_config.checkpoint_urls must map steps to URLs.")
        saved = set(spec.checkpoint_nodes.values())
        for key, url in raw.items():
            step = int(key) if isinstance(key, str) and key.isdigit() else None
            if step is None or step not in saved:
                raise JobInputError(
                    f"training_config.checkpoint_urls names step {key!r}, but the workflow saves no checkpoint there "
                    f"(it saves at {sorted(saved) or 'no step'})."
                )
            checkpoints[step] = _upload_url(url, f"checkpoint_urls[{key!r}]")
    return replace(spec, contract_version=version, sampling=sampling, checkpoint_urls=checkpoints)


def _object(parent: dict[str, Any], key: str) -> dict[str, Any]:
    value = parent.get(key)
    if not isinstance(value, dict):
        raise JobInputError(f"The job input has no {key} object.")
    return value


def _read_workflow(
    workflow: dict[str, Any], urls: tuple[str, ...], raw_names: tuple[str, ...], output_url: str, work_dir: Path
) -> Job:
    nodes = {k: v for k, v in workflow.items() if isinstance(v, dict) and isinstance(v.get("inputs"), dict)}

    def of_class(class_type: str) -> list[str]:
        return [k for k, v in nodes.items() if v.get("class_type") == class_type]

    def linked(inputs: dict[str, Any], key: str, class_type: str) -> dict[str, Any] | None:
        link = inputs.get(key)
        node = nodes.get(str(link[0])) if isinstance(link, list) and link else None
        return node["inputs"] if node and node.get("class_type") == class_type else None

    inits = of_class("InitFluxLoRATraining")
    if len(inits) != 1:
        raise JobInputError(f"The workflow must have one InitFluxLoRATraining node, not {len(inits)}.")
    init_id = inits[0]
    init = nodes[init_id]["inputs"]
    dataset = linked(init, "dataset", "TrainDatasetAdd")
    if dataset is None:
        raise JobInputError(f"InitFluxLoRATraining ({init_id}).dataset is not linked to a TrainDatasetAdd node.")
    general = linked(dataset, "dataset_config", "TrainDatasetGeneralConfig") or {}
    model_select = linked(init, "flux_models", "FluxTrainModelSelect") or {}
    try:
        network_dim = int(init["network_dim"])
        save_dtype = str(init["save_dtype"])
        output_name = str(init["output_name"])
        dataset_dir = _relocate(dataset, "dataset_path", work_dir)
        output_dir = _relocate(init, "output_dir", work_dir)
        facts = (float(init["network_alpha"]), float(init["learning_rate"]), int(init["max_train_steps"]))
        shape = TrainingShape(
            network_dim=network_dim,
            width=int(dataset.get("width", 0)),
            height=int(dataset.get("height", 0)),
            max_bucket_reso=int(dataset.get("max_bucket_reso", 0)),
            batch_size=int(dataset.get("batch_size", 1)),
            blocks_to_swap=int(init.get("blocks_to_swap", 0)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise JobInputError(f"InitFluxLoRATraining ({init_id}) or its dataset lacks a usable input: {exc}") from None
    if not output_name or "/" in output_name or output_name in (".", ".."):
        raise JobInputError(f"InitFluxLoRATraining ({init_id}).output_name {output_name!r} is not a file name.")
    caption_extension = str(general.get("caption_extension") or ".txt")

    names = tuple(normalise_name(n, caption_extension) for n in raw_names)
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise JobInputError(
            f"Several training URLs end in the same file name (extensions compared without case, as the "
            f"trainer sees them on Linux): {', '.join(twice)}."
        )
    if not any(PurePosixPath(n).suffix in IMAGE_EXTENSIONS for n in names):
        source = posixpath.dirname(redact(urls[0]).split("?", 1)[0])
        shown = ", ".join(names[:5]) + (", …" if len(names) > 5 else "")
        raise DatasetError(
            f"No training images for {dataset_dir}: the {len(names)} file(s) from {source}/ ({shown}) include "
            f"none that the trainer reads ({' '.join(IMAGE_EXTENSIONS)}). Add images to the actor's "
            "training_data folder and sync it."
        )

    # The trainer chain in the order it runs from the init node: loops (each reports 0…steps−1),
    # and, in v2 graphs, FluxTrainValidate (samples) and intermediate FluxTrainSave (checkpoints).
    chain_classes = ("FluxTrainLoop", "FluxTrainValidate", "FluxTrainSave")
    loops: list[tuple[str, int]] = []
    chain: list[tuple[str, int]] = []  # (node id, global step when it runs)
    current, done = init_id, 0
    while True:
        following = [
            k for k in nodes if nodes[k].get("class_type") in chain_classes and _link_source(nodes[k]) == current
        ]
        if not following:
            break
        if len(following) > 1 or len(chain) > len(nodes):
            raise JobInputError(f"The training chain branches after node {current}: {', '.join(following)}.")
        current = following[0]
        if nodes[current]["class_type"] == "FluxTrainLoop":
            steps = int(nodes[current]["inputs"].get("steps", 0))
            loops.append((current, steps))
            done += steps
        chain.append((current, done))
    if not loops:
        raise JobInputError(f"No FluxTrainLoop node follows InitFluxLoRATraining ({init_id}).")
    saves_in_chain = [(k, step) for k, step in chain if nodes[k]["class_type"] == "FluxTrainSave"]
    final_saves = {k for k, step in saves_in_chain if chain.index((k, step)) == len(chain) - 1}
    checkpoint_nodes = {k: step for k, step in saves_in_chain if k not in final_saves}
    validate_nodes = {k: step for k, step in chain if nodes[k]["class_type"] == "FluxTrainValidate"}
    sample_saves = {
        k: validate_nodes[str(v["inputs"]["images"][0])]
        for k, v in nodes.items()
        if v.get("class_type") == "SaveImage"
        and isinstance(v["inputs"].get("images"), list)
        and str(v["inputs"]["images"][0]) in validate_nodes
    }

    return Job(
        urls=urls,
        names=names,
        output_url=output_url,
        workflow=workflow,
        dataset_dir=dataset_dir,
        owns_dataset_dir=_inside(dataset_dir, work_dir) and not _inside(output_dir, dataset_dir),
        output_dir=output_dir,
        output_name=output_name,
        stem=f"{output_name}_rank{network_dim}_{save_dtype}",
        init_node=init_id,
        loops=tuple(loops),
        save_nodes=frozenset(k for k in of_class("FluxTrainSave") if k not in checkpoint_nodes),
        network_dim=network_dim,
        network_alpha=facts[0],
        learning_rate=facts[1],
        max_train_steps=facts[2],
        trigger=str(dataset.get("class_tokens") or "").strip(),
        caption_extension=caption_extension,
        models={k: str(v) for k, v in model_select.items() if k in ("transformer", "vae", "clip_l", "t5")},
        shape=shape,
        validate_nodes=validate_nodes,
        sample_saves=sample_saves,
        checkpoint_nodes=checkpoint_nodes,
    )


def _inside(path: Path, folder: Path) -> bool:
    return folder.resolve() in path.resolve().parents


def _link_source(node: dict[str, Any]) -> str | None:
    link = node["inputs"].get("network_trainer")
    return str(link[0]) if isinstance(link, list) and link else None


def _relocate(inputs: dict[str, Any], key: str, work_dir: Path) -> Path:
    """The local folder for a workflow path, written back into the workflow ComfyUI will run.

    The app's workflows name folders under /workspace (this image's WORK_DIR); with another
    work_dir they move under it, and a relative path is taken relative to it.
    """
    raw = str(inputs[key]).strip()
    if not raw:
        raise ValueError(f"{key} is empty")
    path = PurePosixPath(posixpath.normpath(raw))
    if path == WORKFLOW_ROOT or WORKFLOW_ROOT in path.parents:
        local = work_dir / path.relative_to(WORKFLOW_ROOT)
    elif not path.is_absolute():
        local = work_dir / path
    else:
        local = Path(path)
    inputs[key] = str(local)
    return local
