"""Reading a LoRA's header (core/lora_file.py) and writing the sandbox's simulated LoRA (sandbox/lora.py)."""

from __future__ import annotations

import json
import random
import struct
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors import safe_open
from safetensors.numpy import load, save

from actor_trainer.core.errors import ActorTrainerError
from actor_trainer.core.lora_file import LoraFileError, read_lora_info
from actor_trainer.sandbox.lora import (
    SIMULATION_NOTE,
    lora_module_names,
    make_lora_bytes,
    simulated_metadata,
)


def _simulated(tmp_path: Path, *, dim: int = 8, alpha: float = 4, seed: int = 7, name: str = "sim") -> Path:
    meta = simulated_metadata(
        output_name="actor_0003_V2",
        learning_rate=0.0004,
        max_train_steps=1500,
        image_count=6,
        num_repeats=2,
        optimizer="adamw8bit",
        lr_scheduler="cosine",
        seed=seed,
        started_at=1_700_000_000.0,
        finished_at=1_700_000_900.0,
        tag_frequency={"0003_european_30_female": 6, "smiling": 2},
    )
    path = tmp_path / f"{name}.safetensors"
    path.write_bytes(make_lora_bytes(network_dim=dim, network_alpha=alpha, metadata=meta, seed=seed))
    return path


# --- the simulated LoRA ---------------------------------------------------------------------------


def test_simulated_lora_is_a_loadable_kohya_flux_lora_of_the_requested_rank(tmp_path: Path) -> None:
    path = _simulated(tmp_path, dim=16, alpha=8)
    tensors = load(path.read_bytes())
    modules = lora_module_names(2)
    assert set(tensors) == {f"{m}.{part}" for m in modules for part in ("lora_down.weight", "lora_up.weight", "alpha")}
    qkv = "lora_unet_double_blocks_0_img_attn_qkv"
    assert tensors[f"{qkv}.lora_down.weight"].shape == (16, 3072)
    assert tensors[f"{qkv}.lora_up.weight"].shape == (9216, 16)
    assert tensors["lora_unet_single_blocks_1_linear1.lora_up.weight"].shape == (21504, 16)
    assert tensors["lora_unet_single_blocks_1_linear2.lora_down.weight"].shape == (16, 15360)
    assert tensors[f"{qkv}.alpha"].shape == () and float(tensors[f"{qkv}.alpha"]) == 8.0
    assert all(t.dtype == np.float16 for t in tensors.values())
    # Not an all-zero placeholder: the up weights carry values, like a LoRA after some training.
    assert np.abs(tensors[f"{qkv}.lora_up.weight"].astype(np.float32)).max() > 0

    with safe_open(str(path), "np") as fh:
        meta = fh.metadata()
    assert meta["ss_network_dim"] == "16" and meta["ss_network_alpha"] == "8"
    assert meta["ss_network_module"] == "networks.lora_flux"
    assert meta["ss_base_model_version"] == "flux1"
    assert meta["simulation"] == "true" and meta["simulation_note"] == SIMULATION_NOTE
    assert meta["ss_learning_rate"] == "0.0004" and meta["ss_max_train_steps"] == "1500"
    assert meta["ss_num_train_images"] == "12"  # kohya counts repeats
    assert json.loads(meta["ss_dataset_dirs"]) == {"2_dataset": {"n_repeats": 2, "img_count": 6}}
    assert json.loads(meta["ss_tag_frequency"])["2_dataset"]["smiling"] == 2
    assert float(meta["ss_training_started_at"]) == 1_700_000_000.0


def test_simulated_lora_is_small_and_deterministic_from_the_seed() -> None:
    args = {"network_dim": 8, "network_alpha": 8.0, "metadata": {"ss_output_name": "x", "b": "1"}}
    first = make_lora_bytes(seed=1, **args)  # type: ignore[arg-type]
    assert len(first) < 4 * 1024 * 1024
    assert make_lora_bytes(seed=1, **args) == first  # type: ignore[arg-type]
    assert make_lora_bytes(seed=2, **args) != first  # type: ignore[arg-type]


def test_the_simulation_label_cannot_be_overridden_by_the_caller() -> None:
    data = make_lora_bytes(
        network_dim=4, network_alpha=1, metadata={"simulation": "false", "ss_network_dim": "64"}, seed=0, blocks=1
    )
    (length,) = struct.unpack("<Q", data[:8])
    meta = json.loads(data[8 : 8 + length])["__metadata__"]
    assert meta["simulation"] == "true" and meta["ss_network_dim"] == "4"


def test_make_lora_bytes_rejects_non_string_metadata_and_bad_rank() -> None:
    with pytest.raises(TypeError):
        make_lora_bytes(network_dim=4, network_alpha=1, metadata={"ss_seed": 3}, seed=0)  # type: ignore[dict-item]
    with pytest.raises(ValueError):
        make_lora_bytes(network_dim=0, network_alpha=1, metadata={}, seed=0)


# --- reading the header -----------------------------------------------------------------------


def test_read_lora_info_reports_what_the_simulated_file_says(tmp_path: Path) -> None:
    path = _simulated(tmp_path, dim=8, alpha=4)
    info = read_lora_info(path)
    assert info.file_size == path.stat().st_size
    assert info.is_simulation
    assert info.rank == 8 and info.ranks == (8,) and info.network_dim == 8
    assert info.network_alpha == 4.0
    assert info.learning_rate == 0.0004 and info.max_train_steps == 1500
    assert info.image_count == 6  # distinct images, not images × repeats
    assert info.output_name == "actor_0003_V2"
    assert info.base_model_version == "flux1"
    assert info.dtypes == ("F16",)
    assert info.tensor_count == len(lora_module_names(2)) * 3
    expected_params = sum(t.size for t in load(path.read_bytes()).values())
    assert info.parameter_count == expected_params
    rows = dict(info.summary_rows())
    assert rows["Simulation"] == SIMULATION_NOTE
    assert rows["Rank (network_dim)"] == "8" and rows["Steps"] == "1500" and rows["Training images"] == "6"


def test_read_lora_info_on_a_non_simulated_file_with_mixed_ranks_and_dtypes(tmp_path: Path) -> None:
    tensors = {
        "lora_unet_a.lora_down.weight": np.zeros((4, 32), np.float32),
        "lora_unet_a.lora_up.weight": np.zeros((32, 4), np.float32),
        "lora_unet_b.lora_down.weight": np.zeros((16, 32), np.float16),
        "lora_unet_b.lora_up.weight": np.zeros((32, 16), np.float16),
        "lora_unet_b.alpha": np.array(16.0, np.float16),
    }
    path = tmp_path / "real.safetensors"
    path.write_bytes(save(tensors, metadata={"ss_network_alpha": "16", "ss_num_train_images": "30"}))
    info = read_lora_info(path)
    assert not info.is_simulation
    assert info.ranks == (4, 16) and info.rank == 16
    assert info.network_dim == 16  # no ss_network_dim: falls back to the largest rank
    assert set(info.dtypes) == {"F32", "F16"}
    assert info.parameter_count == 4 * 32 * 2 + 16 * 32 * 2 + 1
    assert info.image_count == 30 and info.max_train_steps is None
    assert "Simulation" not in dict(info.summary_rows())


def test_read_lora_info_reads_only_the_header(tmp_path: Path) -> None:
    # A header announcing 512 MB of tensor data in a sparse file: answered at once, from the header.
    header = json.dumps(
        {
            "__metadata__": {"ss_network_dim": "32"},
            "big.lora_down.weight": {"dtype": "F32", "shape": [32, 4_194_304], "data_offsets": [0, 536_870_912]},
        }
    ).encode()
    header += b" " * (-len(header) % 8)
    path = tmp_path / "big.safetensors"
    with path.open("wb") as fh:
        fh.write(struct.pack("<Q", len(header)) + header)
        fh.truncate(8 + len(header) + 536_870_912)
    started = time.perf_counter()
    info = read_lora_info(path)
    assert time.perf_counter() - started < 0.5
    assert info.rank == 32 and info.parameter_count == 32 * 4_194_304


def test_a_truncated_download_is_reported(tmp_path: Path) -> None:
    whole = _simulated(tmp_path).read_bytes()
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(whole[: len(whole) - 1000])
    with pytest.raises(LoraFileError, match="truncated") as caught:
        read_lora_info(cut)
    assert isinstance(caught.value, ActorTrainerError)
    assert caught.value.path == cut and "cut.safetensors" in str(caught.value) and caught.value.hint

    (length,) = struct.unpack("<Q", whole[:8])
    cut.write_bytes(whole[: 8 + length // 2])  # cut inside the header
    with pytest.raises(LoraFileError, match="truncated"):
        read_lora_info(cut)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "only 0 bytes"),
        (b"\x01\x02\x03", "only 3 bytes"),
        (bytes(random.Random(3).getrandbits(8) for _ in range(4096)), "not a safetensors file"),
        (struct.pack("<Q", 8) + b"not json", "header is not JSON"),
        (struct.pack("<Q", 4) + b"[1] ", "not a JSON object"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "not a safetensors file"),
    ],
)
def test_files_that_are_not_safetensors_are_refused(tmp_path: Path, content: bytes, problem: str) -> None:
    path = tmp_path / "x.safetensors"
    path.write_bytes(content)
    with pytest.raises(LoraFileError, match=problem):
        read_lora_info(path)


def test_header_lying_about_tensor_sizes_is_refused(tmp_path: Path) -> None:
    header = json.dumps({"t": {"dtype": "F16", "shape": [4, 4], "data_offsets": [0, 8]}}).encode()
    path = tmp_path / "lying.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\x00" * 8)
    with pytest.raises(LoraFileError, match="should take 32 bytes"):
        read_lora_info(path)


def test_missing_file_and_folder_are_typed_errors(tmp_path: Path) -> None:
    with pytest.raises(LoraFileError, match="does not exist"):
        read_lora_info(tmp_path / "nope.safetensors")
    with pytest.raises(LoraFileError, match="folder"):
        read_lora_info(tmp_path)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=600))
def test_any_bytes_give_info_or_a_lora_file_error(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "fuzz.safetensors"
    path.write_bytes(data)
    try:
        read_lora_info(path)
    except LoraFileError:
        pass


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_any_cut_of_a_real_lora_is_refused(tmp_path: Path, data: st.DataObject) -> None:
    whole = make_lora_bytes(network_dim=2, network_alpha=1, metadata={"a": "b"}, seed=0, blocks=1)
    keep = data.draw(st.integers(min_value=0, max_value=len(whole) - 1))
    path = tmp_path / "cut.safetensors"
    path.write_bytes(whole[:keep])
    with pytest.raises(LoraFileError):
        read_lora_info(path)
