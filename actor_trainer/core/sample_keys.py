"""Bucket keys of a run's samples, checkpoint LoRAs and Try images (worker contract v2,
docs/worker-contract.md). The app decides every key, as it decides `output_url`:

- sample:     `<prefix>actors/NNNN/models/<model_name>/samples/step000500_p00.png`
- checkpoint: `<prefix>actors/NNNN/models/<model_name>_step000500.safetensors`
- Try image:  `<prefix>actors/NNNN/trials/<model_name>/<trial request id>_00.png`
"""

from __future__ import annotations

import re

from actor_trainer.core.storage.base import normalize_prefix

_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def _models(prefix: str, actor_id: int) -> str:
    return f"{normalize_prefix(prefix)}actors/{actor_id:04d}/models/"


def sample_key(prefix: str, actor_id: int, model_name: str, step: int, prompt_index: int) -> str:
    return f"{_models(prefix, actor_id)}{model_name}/samples/step{step:06d}_p{prompt_index:02d}.png"


def samples_prefix(prefix: str, actor_id: int, model_name: str) -> str:
    return f"{_models(prefix, actor_id)}{model_name}/samples/"


def checkpoint_key(prefix: str, actor_id: int, model_name: str, step: int) -> str:
    return f"{_models(prefix, actor_id)}{model_name}_step{step:06d}.safetensors"


def trial_image_key(prefix: str, actor_id: int, model_name: str, trial_request_id: str, index: int) -> str:
    if not _SAFE_ID.match(trial_request_id):
        raise ValueError(f"{trial_request_id!r} is not a request id usable in a key")
    return f"{normalize_prefix(prefix)}actors/{actor_id:04d}/trials/{model_name}/{trial_request_id}_{index:02d}.png"
