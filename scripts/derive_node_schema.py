"""Derive tests/fixtures/comfy_nodes.json from a ComfyUI `/object_info` answer.

    python scripts/derive_node_schema.py OBJECT_INFO.json [--out tests/fixtures/comfy_nodes.json]

The workflow tests check every graph the app builds against the node definitions of a real ComfyUI
with ComfyUI-FluxTrainer loaded (input names, types, ranges, choices, output types). The full
`/object_info` answer is half a megabyte; this keeps what those tests need: every FluxTrainer node,
and the core nodes a training or generation graph may use. Re-run it against a worker's ComfyUI
(`curl http://127.0.0.1:8188/object_info > object_info.json`) when the pinned refs change.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

CORE_NODES = (
    "SaveImage",
    "PreviewImage",
    "LoadImage",
    "UNETLoader",
    "DualCLIPLoader",
    "CLIPLoader",
    "VAELoader",
    "CheckpointLoaderSimple",
    "LoraLoader",
    "LoraLoaderModelOnly",
    "CLIPTextEncode",
    "CLIPTextEncodeFlux",
    "FluxGuidance",
    "ModelSamplingFlux",
    "KSampler",
    "KSamplerAdvanced",
    "EmptyLatentImage",
    "EmptySD3LatentImage",
    "VAEDecode",
    "RandomNoise",
    "BasicGuider",
    "BasicScheduler",
    "KSamplerSelect",
    "SamplerCustomAdvanced",
    "ConditioningZeroOut",
)
KEEP = ("input", "input_order", "output", "output_name", "output_node", "python_module")


def derive(object_info: dict[str, dict[str, object]]) -> dict[str, dict[str, object]]:
    chosen = {
        name: {k: spec[k] for k in KEEP if k in spec}
        for name, spec in object_info.items()
        if name in CORE_NODES or "FluxTrainer" in str(spec.get("python_module", ""))
    }
    for spec in chosen.values():  # tooltips make up most of the size and none of the rules
        for group in ("required", "optional"):
            for value in dict(spec.get("input", {})).get(group, {}).values():  # type: ignore[union-attr]
                if len(value) > 1 and isinstance(value[1], dict):
                    value[1].pop("tooltip", None)
    return dict(sorted(chosen.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("object_info", type=Path)
    default_out = Path(__file__).resolve().parents[1] / "tests/fixtures/comfy_nodes.json"
    parser.add_argument("--out", type=Path, default=default_out)
    args = parser.parse_args()
    nodes = derive(json.loads(args.object_info.read_text(encoding="utf-8")))
    args.out.write_text(
        json.dumps(
            {"_source": "ComfyUI a125cd8 + ComfyUI-FluxTrainer 639b3e8 /object_info", "nodes": nodes},
            indent=1,
            sort_keys=True,
        )
        + "\n",
        encoding="utf-8",
    )
    print(f"{len(nodes)} node definitions written to {args.out}")


if __name__ == "__main__":
    main()
