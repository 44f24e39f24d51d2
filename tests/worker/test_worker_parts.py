"""The reference worker's parts on their own: model file checks, captions and names, leftovers, aborts."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest
from safetensors.numpy import save as save_safetensors

from tests.fixtures.s3 import S3Bucket, aws_env, s3_bucket, s3_server  # noqa: F401
from tests.worker.worker_support import TRIGGER, load_worker

load_worker()  # puts packaging/worker on sys.path, as the image runs it

import cleanup  # noqa: E402
import dataset  # noqa: E402
import model_check  # noqa: E402
import transfer  # noqa: E402
from errors import TransferAborted  # noqa: E402
from job_spec import read_job  # noqa: E402


def _weights() -> bytes:
    import numpy as np

    return save_safetensors({"w": np.zeros((64, 64), dtype=np.float32)}, metadata={"format": "pt"})


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", r"is empty \(0 bytes\)"),
        (b"\x10\x00\x00", r"is only 3 bytes long: an incomplete download"),
        (b"version https://git-lfs.github.com/spec/v1\noid sha256:ab\nsize 335\n", r"is a Git LFS pointer"),
        (b"<!DOCTYPE html><html>Access restricted</html>", r"holds a text page .* gated model .* token"),
        (b'{"error":"Access to model is restricted"}', r"holds a text page .*'\{\"error\""),
        (b"\xff" * 64, r"does not start like a safetensors file"),
        ((40).to_bytes(8, "little") + b"{}", r"is incomplete: its header alone should be 40 bytes"),
        ((2).to_bytes(8, "little") + b"{x", r"header that is not valid JSON"),
    ],
)
def test_a_broken_model_file_is_described_by_its_likely_cause(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "ae.safetensors"
    path.write_bytes(content)
    problem = model_check.inspect(path)
    assert problem is not None
    assert re.search(expected, problem), problem


def test_a_complete_model_file_passes_and_a_truncated_one_does_not(tmp_path: Path) -> None:
    path = tmp_path / "clip_l.safetensors"
    data = _weights()
    path.write_bytes(data)
    assert model_check.inspect(path) is None
    path.write_bytes(data[:-10])
    assert "is truncated" in str(model_check.inspect(path))
    assert model_check.main([str(path)]) == 1
    path.write_bytes(data)
    assert model_check.main([str(path)]) == 0


def test_diagnose_names_missing_and_broken_files_by_their_folder(tmp_path: Path) -> None:
    models = tmp_path / "models"
    (models / "clip").mkdir(parents=True)
    (models / "clip" / "clip_l.safetensors").write_bytes(_weights())
    (models / "clip" / "t5xxl_fp8.safetensors").write_bytes(b"")
    problems = model_check.diagnose(
        {"transformer": "flux1-dev-fp8.safetensors", "clip_l": "clip_l.safetensors", "t5": "t5xxl_fp8.safetensors"},
        [models],
    )
    assert problems == [
        f"The transformer model flux1-dev-fp8.safetensors is not in {models}/unet, {models}/diffusion_models.",
        f"The t5 model t5xxl_fp8.safetensors in {models}/clip is empty (0 bytes): the download did not finish.",
    ]


@pytest.mark.parametrize(
    ("name", "normalised"),
    [
        ("Face.Jpg", "Face.jpg"),
        ("FACE.JPEG", "FACE.jpeg"),
        ("a.PNG", "a.png"),
        ("b.WebP", "b.webp"),
        ("c.BMP", "c.bmp"),
        ("Face.TXT", "Face.txt"),  # the caption keeps matching its image
        ("notes.MD", "notes.MD"),  # not the trainer's: left as it is
        ("clip.GIF", "clip.GIF"),
        ("my photo #2.Jpg", "my photo #2.jpg"),
    ],
)
def test_image_and_caption_extensions_are_lower_cased(name: str, normalised: str) -> None:
    assert dataset.normalise_name(name, ".txt") == normalised


@pytest.mark.parametrize(
    ("caption", "stripped"),
    [
        (f"{TRIGGER}, smiling", "smiling"),
        (f"  {TRIGGER} smiling", "smiling"),
        (f"{TRIGGER.upper()}: smiling", "smiling"),
        (f"{TRIGGER}", ""),
        (f"{TRIGGER}_older, smiling", None),  # another word
        (f"a photo of {TRIGGER}", None),  # not at the start: the trainer's prefix does not double it
        ("", None),
    ],
)
def test_a_leading_trigger_is_stripped_from_a_caption(caption: str, stripped: str | None) -> None:
    assert dataset.strip_trigger(caption, TRIGGER) == stripped


def test_prepare_rewrites_captions_and_lists_the_images_kohya_reads(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(b"png")
    (tmp_path / "a.txt").write_text(f"\ufeff{TRIGGER}, hat")  # a BOM, as some editors write
    (tmp_path / "b.jpg").write_bytes(b"jpg")
    (tmp_path / "b.txt").write_text(TRIGGER)
    (tmp_path / "c.webp").write_bytes(b"webp")
    (tmp_path / "c.txt").write_bytes(b"\xff\xfe not utf-8")
    report = dataset.prepare(tmp_path, TRIGGER, ".txt")
    assert report.images == ["a.png", "b.jpg", "c.webp"]
    assert (tmp_path / "a.txt").read_text() == "hat"
    assert not (tmp_path / "b.txt").exists()
    assert (tmp_path / "c.txt").read_bytes() == b"\xff\xfe not utf-8"  # not text: untouched


def _spec(work_dir: Path) -> object:
    from actor_trainer.core.request_builder import build_run_request
    from tests.worker.worker_support import ACTOR, default_params

    built = build_run_request(
        actor=ACTOR,
        params=default_params(),
        version_name="V1",
        training_urls=["s3://bucket/actors/0007/training_data/a.png"],
        output_url="s3://bucket/actors/0007/models/actor_0007_V1.safetensors",
        webhook_base_url=None,
    )
    return read_job({"input": built.body["input"]}, work_dir)


def test_the_leftovers_are_this_runs_files_only(tmp_path: Path) -> None:
    spec = _spec(tmp_path / "workspace")
    out = spec.output_dir  # type: ignore[attr-defined]
    stem = spec.stem  # type: ignore[attr-defined]
    mine = [
        f"{stem}.safetensors",
        f"{stem}-step00000250.safetensors",
        f"{stem}-000001.safetensors",
        "actor_0007_V1_args.json",
        "actor_0007_V1_workflow.json",
        f"{stem}-state/optimizer.bin",
        f"{stem}-step00000250-state/optimizer.bin",
        f"sample/{stem}_000250_00_20261202.png",
    ]
    theirs = ["actor_0007_V2_rank8_bf16.safetensors", "actor_0007_V10_args.json", "notes.txt", "sample/other.png"]
    for name in mine + theirs:
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_bytes(b"x")
    comfy_out = tmp_path / "comfyui" / "output"
    comfy_out.mkdir(parents=True)
    for name in ("actor_0007_V1_loss_00001_.png", "actor_0007_V1_loss_00002_.png", "actor_0007_V1_loss_x.png"):
        (comfy_out / name).write_bytes(b"png")

    problems = cleanup.clean_job(
        spec,  # type: ignore[arg-type]
        work_dir=tmp_path / "workspace",
        comfy_output_dir=comfy_out,
        reported_images=[comfy_out / "../../escape.png"],
    )

    assert problems == []
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == sorted(theirs)
    assert [p.name for p in comfy_out.iterdir()] == ["actor_0007_V1_loss_x.png"]  # not SaveImage's pattern


def test_the_output_folder_goes_when_it_is_empty(tmp_path: Path) -> None:
    spec = _spec(tmp_path / "workspace")
    out = spec.output_dir  # type: ignore[attr-defined]
    out.mkdir(parents=True)
    (out / f"{spec.stem}.safetensors").write_bytes(b"x")  # type: ignore[attr-defined]
    cleanup.clean_job(spec, work_dir=tmp_path / "workspace", comfy_output_dir=None, reported_images=())  # type: ignore[arg-type]
    assert not out.exists() and out.parent.is_dir()


def test_a_set_stop_aborts_an_upload_and_a_download(s3_bucket: S3Bucket, tmp_path: Path) -> None:
    client = s3_bucket.client()
    lora = tmp_path / "lora.safetensors"
    lora.write_bytes(b"\0" * (9 * 1024 * 1024))  # above the multipart threshold
    stop = threading.Event()
    stop.set()
    url = f"s3://{s3_bucket.bucket}/models/lora.safetensors"

    with pytest.raises(TransferAborted):
        transfer.upload_lora(lora, url, "md5", client, stop)
    assert client.list_objects_v2(Bucket=s3_bucket.bucket).get("KeyCount") == 0
    assert client.list_multipart_uploads(Bucket=s3_bucket.bucket).get("Uploads", []) == []

    client.put_object(Bucket=s3_bucket.bucket, Key="data/a.png", Body=b"\0" * 100_000)
    dest = tmp_path / "a.png"
    with pytest.raises(TransferAborted):
        transfer.download(f"s3://{s3_bucket.bucket}/data/a.png", dest, client, stop)
    assert list(tmp_path.iterdir()) == [lora]  # no file, no .part

    transfer.upload_lora(lora, url, "abc", client, threading.Event())
    assert client.head_object(Bucket=s3_bucket.bucket, Key="models/lora.safetensors")["Metadata"] == {"md5": "abc"}
    transfer.delete_object(url, client)
    assert client.list_objects_v2(Bucket=s3_bucket.bucket, Prefix="models/").get("KeyCount") == 0
