"""What the FluxTrainer nodes (and the ComfyUI core nodes of the generation graph) accept: the
table `workflow.validate_workflow` checks a graph against.

Derived from docs/training-workflow.md and the node pack's own `INPUT_TYPES` (kijai's
ComfyUI-FluxTrainer, `nodes.py`): required and optional inputs, their types, allowed values and
ranges, and each node's output types. ComfyUI refuses an API-format prompt that misses a required
input or holds a value outside these sets, but only after a GPU worker has started — so the app
checks the same rules before anything is sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from actor_trainer.core.models import GRADIENT_DTYPES, LR_SCHEDULERS, OPTIMIZER_TYPES, SAVE_DTYPES

InputKind = Literal["link", "INT", "FLOAT", "BOOLEAN", "STRING", "COMBO"]


@dataclass(frozen=True)
class InputSpec:
    """One input of a node: a link of `link_type`, or a widget value of `kind`."""

    kind: InputKind
    required: bool = True
    link_type: str | None = None  # for kind == "link": the output type it must come from
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] | None = None  # for kind == "COMBO"
    non_empty: bool = False  # for kind == "STRING"
    forbidden: tuple[str, ...] = ()  # for kind == "STRING": values the worker refuses


@dataclass(frozen=True)
class NodeSpec:
    inputs: dict[str, InputSpec]
    outputs: tuple[str, ...]  # output types, by index
    is_output: bool = False


def _link(link_type: str, *, required: bool = True) -> InputSpec:
    return InputSpec("link", required=required, link_type=link_type)


def _int(minimum: int | None = None, maximum: int | None = None, *, required: bool = True) -> InputSpec:
    return InputSpec("INT", required=required, minimum=minimum, maximum=maximum)


def _float(minimum: float | None = None, maximum: float | None = None, *, required: bool = True) -> InputSpec:
    return InputSpec("FLOAT", required=required, minimum=minimum, maximum=maximum)


def _bool(*, required: bool = True) -> InputSpec:
    return InputSpec("BOOLEAN", required=required)


def _str(*, non_empty: bool = False, required: bool = True, forbidden: tuple[str, ...] = ()) -> InputSpec:
    return InputSpec("STRING", required=required, non_empty=non_empty, forbidden=forbidden)


def _combo(*choices: str, required: bool = True) -> InputSpec:
    return InputSpec("COMBO", required=required, choices=choices)


# One FluxTrainLoop node runs at most this many steps (its `steps` input has max 10000).
MAX_STEPS_PER_LOOP = 10_000

CACHE_MODES = ("disk", "memory", "disabled")
#: KSampler's choices that a Flux graph uses (a subset of ComfyUI's lists: the app never sends others)
SAMPLERS = ("euler", "euler_ancestral", "heun", "dpmpp_2m", "dpmpp_2m_sde", "deis", "ddim", "uni_pc")
SCHEDULERS = ("simple", "sgm_uniform", "karras", "exponential", "ddim_uniform", "beta", "normal")

NODE_SPECS: dict[str, NodeSpec] = {
    "FluxTrainModelSelect": NodeSpec(
        # Model file names are checked against the worker's disk by ComfyUI; here: present, non-empty.
        inputs={
            "transformer": _str(non_empty=True),
            "vae": _str(non_empty=True),
            "clip_l": _str(non_empty=True),
            "t5": _str(non_empty=True),
            "lora_path": _str(required=False),
        },
        outputs=("TRAIN_FLUX_MODELS",),
    ),
    "TrainDatasetGeneralConfig": NodeSpec(
        inputs={
            "color_aug": _bool(),
            "flip_aug": _bool(),
            "shuffle_caption": _bool(),
            "caption_dropout_rate": _float(0.0, 1.0),
            "alpha_mask": _bool(),
            "reset_on_queue": _bool(required=False),
            "caption_extension": _str(required=False),
        },
        outputs=("JSON",),
    ),
    "TrainDatasetAdd": NodeSpec(
        inputs={
            "dataset_config": _link("JSON"),
            "width": _int(64),
            "height": _int(64),
            "batch_size": _int(1),
            "dataset_path": _str(non_empty=True),
            "class_tokens": _str(non_empty=True),
            "enable_bucket": _bool(),
            "bucket_no_upscale": _bool(),
            "num_repeats": _int(1),
            "min_bucket_reso": _int(64, 4096),
            "max_bucket_reso": _int(64, 4096),
            "regularization": _link("JSON", required=False),
        },
        outputs=("JSON",),
    ),
    "OptimizerConfig": NodeSpec(
        inputs={
            "optimizer_type": _combo(*OPTIMIZER_TYPES),
            "max_grad_norm": _float(0.0),
            "lr_scheduler": _combo(*LR_SCHEDULERS),
            "lr_warmup_steps": _int(0),
            "lr_scheduler_num_cycles": _int(1),
            "lr_scheduler_power": _float(0.0),
            "min_snr_gamma": _float(0.0),
            "extra_optimizer_args": _str(),
        },
        outputs=("ARGS",),
    ),
    "InitFluxLoRATraining": NodeSpec(
        inputs={
            "flux_models": _link("TRAIN_FLUX_MODELS"),
            "dataset": _link("JSON"),
            "optimizer_settings": _link("ARGS"),
            "output_name": _str(non_empty=True),
            "output_dir": _str(non_empty=True),
            "network_dim": _int(1, 100_000),
            "network_alpha": _float(0.0, 2048.0),
            "learning_rate": _float(0.0, 10.0),
            "max_train_steps": _int(1, 100_000),
            "apply_t5_attn_mask": _bool(),
            "cache_latents": _combo(*CACHE_MODES),
            "cache_text_encoder_outputs": _combo(*CACHE_MODES),
            "blocks_to_swap": _int(0),
            "weighting_scheme": _combo("logit_normal", "sigma_sqrt", "mode", "cosmap", "none"),
            "logit_mean": _float(0.0, 1.0),
            "logit_std": _float(0.0, 1.0),
            "mode_scale": _float(0.0, 10.0),
            "timestep_sampling": _combo("sigmoid", "uniform", "sigma", "shift", "flux_shift"),
            "sigmoid_scale": _float(0.0, 10.0),
            "model_prediction_type": _combo("raw", "additive", "sigma_scaled"),
            "guidance_scale": _float(1.0, 32.0),
            "discrete_flow_shift": _float(0.0, 10.0),
            "highvram": _bool(),
            "fp8_base": _bool(),
            "gradient_dtype": _combo(*GRADIENT_DTYPES),
            "save_dtype": _combo(*SAVE_DTYPES),
            "attention_mode": _combo("sdpa", "xformers", "disabled"),
            "sample_prompts": _str(),
            "additional_args": _str(required=False),
            "train_text_encoder": _combo(
                "disabled", "clip_l", "clip_l_fp8", "clip_l+T5", "clip_l+T5_fp8", required=False
            ),
            "clip_l_lr": _float(0.0, 10.0, required=False),
            "T5_lr": _float(0.0, 10.0, required=False),
            "gradient_checkpointing": _combo("enabled", "enabled_with_cpu_offloading", "disabled", required=False),
            "resume_args": _link("ARGS", required=False),
            "block_args": _link("ARGS", required=False),
            "loss_args": _link("ARGS", required=False),
            "network_config": _link("NETWORK_CONFIG", required=False),
        },
        outputs=("NETWORKTRAINER", "INT", "KOHYA_ARGS"),  # network_trainer, epochs_count, args
    ),
    "FluxTrainLoop": NodeSpec(
        inputs={"network_trainer": _link("NETWORKTRAINER"), "steps": _int(1, MAX_STEPS_PER_LOOP)},
        outputs=("NETWORKTRAINER", "INT"),
    ),
    "FluxTrainSave": NodeSpec(
        inputs={
            "network_trainer": _link("NETWORKTRAINER"),
            "save_state": _bool(),
            "copy_to_comfy_lora_folder": _bool(),
        },
        outputs=("NETWORKTRAINER", "STRING", "INT"),
    ),
    "VisualizeLoss": NodeSpec(
        inputs={
            "network_trainer": _link("NETWORKTRAINER"),
            # The allowed list is matplotlib's plt.style.available on the worker, which differs by
            # matplotlib version; "default" (the node's own default) is never in it.
            "plot_style": _str(non_empty=True, forbidden=("default",)),
            "window_size": _int(0, 10_000),
            "normalize_y": _bool(),
            "width": _int(256, 4096),
            "height": _int(256, 4096),
            "log_scale": _bool(),
        },
        outputs=("IMAGE", "FLOAT"),
    ),
    "SaveImage": NodeSpec(
        inputs={"images": _link("IMAGE"), "filename_prefix": _str(non_empty=True)},
        outputs=(),
        is_output=True,
    ),
    "FluxTrainValidationSettings": NodeSpec(
        # One seed, size and step count for every sample prompt (FluxTrainer's nodes.py).
        inputs={
            "steps": _int(1, 256),
            "width": _int(64, 4096),
            "height": _int(64, 4096),
            "guidance_scale": _float(1.0, 32.0),
            "seed": _int(0, 2**64 - 1),
            "shift": _bool(),
            "base_shift": _float(0.0, 10.0),
            "max_shift": _float(0.0, 10.0),
        },
        outputs=("VALSETTINGS",),
    ),
    "FluxTrainValidate": NodeSpec(
        # Samples every InitFluxLoRATraining.sample_prompts prompt; its IMAGE output is one image per
        # prompt, in the prompts' order.
        inputs={
            "network_trainer": _link("NETWORKTRAINER"),
            "validation_settings": _link("VALSETTINGS", required=False),
        },
        outputs=("NETWORKTRAINER", "IMAGE"),
    ),
    # --- the generation graph ("Try this version", resources/workflows/flux_lora_generate.json) ---
    # Model and LoRA file names are checked against the worker's disk by ComfyUI; here: non-empty.
    "UNETLoader": NodeSpec(
        inputs={
            "unet_name": _str(non_empty=True),
            "weight_dtype": _combo("default", "fp8_e4m3fn", "fp8_e4m3fn_fast", "fp8_e5m2"),
        },
        outputs=("MODEL",),
    ),
    "DualCLIPLoader": NodeSpec(
        inputs={
            "clip_name1": _str(non_empty=True),
            "clip_name2": _str(non_empty=True),
            "type": _combo("sdxl", "sd3", "flux", "hunyuan_video", "hidream", "hunyuan_image"),
            "device": _combo("default", "cpu", required=False),
        },
        outputs=("CLIP",),
    ),
    "VAELoader": NodeSpec(inputs={"vae_name": _str(non_empty=True)}, outputs=("VAE",)),
    "LoraLoaderModelOnly": NodeSpec(
        inputs={"model": _link("MODEL"), "lora_name": _str(non_empty=True), "strength_model": _float(-100.0, 100.0)},
        outputs=("MODEL",),
    ),
    "CLIPTextEncode": NodeSpec(inputs={"text": _str(), "clip": _link("CLIP")}, outputs=("CONDITIONING",)),
    "FluxGuidance": NodeSpec(
        inputs={"conditioning": _link("CONDITIONING"), "guidance": _float(0.0, 100.0)}, outputs=("CONDITIONING",)
    ),
    "EmptySD3LatentImage": NodeSpec(
        inputs={"width": _int(16, 16384), "height": _int(16, 16384), "batch_size": _int(1, 4096)},
        outputs=("LATENT",),
    ),
    "KSampler": NodeSpec(
        inputs={
            "model": _link("MODEL"),
            "seed": _int(0, 2**64 - 1),
            "steps": _int(1, 10_000),
            "cfg": _float(0.0, 100.0),
            "sampler_name": _combo(*SAMPLERS),
            "scheduler": _combo(*SCHEDULERS),
            "positive": _link("CONDITIONING"),
            "negative": _link("CONDITIONING"),
            "latent_image": _link("LATENT"),
            "denoise": _float(0.0, 1.0),
        },
        outputs=("LATENT",),
    ),
    "VAEDecode": NodeSpec(inputs={"samples": _link("LATENT"), "vae": _link("VAE")}, outputs=("IMAGE",)),
    "FluxTrainEnd": NodeSpec(
        inputs={"network_trainer": _link("NETWORKTRAINER"), "save_state": _bool()},
        outputs=("STRING", "STRING", "STRING"),  # lora_name, metadata, lora_path
        is_output=True,
    ),
}

#: Inputs every known class_type must have (the table the brief asks for, derived from NODE_SPECS).
REQUIRED_INPUTS: dict[str, frozenset[str]] = {
    class_type: frozenset(name for name, spec in node.inputs.items() if spec.required)
    for class_type, node in NODE_SPECS.items()
}

#: How many outputs each known class_type has (valid link indices are 0 … count-1).
OUTPUT_COUNTS: dict[str, int] = {class_type: len(node.outputs) for class_type, node in NODE_SPECS.items()}
