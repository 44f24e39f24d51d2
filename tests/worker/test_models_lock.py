"""The worker image's model pins (issue 9, item 1): models.lock.toml, the checks the Docker build runs
(`models_lock.py check|downloads|verify`, run here as the build runs them: a subprocess), and
pin_models.py's pinning from the Hub's model info (its pure part: the Hub is not reachable here)."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.worker.worker_support import WORKER_DIR, load_worker

load_worker()  # puts packaging/worker on sys.path
import models_lock  # noqa: E402
import pin_models  # noqa: E402

LOCK = WORKER_DIR / "models.lock.toml"
COMMIT_A = "a" * 40
COMMIT_B = "0123456789abcdef0123456789abcdef01234567"
#: the files the app's workflow asks FluxTrainModelSelect for (resources/workflows, model_check.py)
WORKFLOW_FILES = {
    "unet/flux1-dev-fp8.safetensors",
    "vae/ae.safetensors",
    "clip/clip_l.safetensors",
    "clip/t5xxl_fp8.safetensors",
}


def cli(*args: str, allow: bool = False) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "ALLOW_UNPINNED_MODELS"}
    if allow:
        env["ALLOW_UNPINNED_MODELS"] = "1"
    return subprocess.run(
        [sys.executable, str(WORKER_DIR / "models_lock.py"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


def pinned_lock(tmp_path: Path, files: dict[str, bytes]) -> Path:
    """A lock pinning `files` (dest → content) and a models folder holding them."""
    pins = [
        models_lock.ModelPin(
            repo="owner/repo",
            file=Path(dest).name,
            dest=dest,
            revision=COMMIT_A,
            sha256=hashlib.sha256(data).hexdigest(),
            size=len(data),
        )
        for dest, data in files.items()
    ]
    lock = tmp_path / "models.lock.toml"
    models_lock.write_lock(lock, pins)
    for dest, data in files.items():
        (tmp_path / "models" / dest).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "models" / dest).write_bytes(data)
    return lock


def test_the_committed_lock_lists_the_workflows_four_files() -> None:
    pins = models_lock.read_lock(LOCK)
    assert {p.dest for p in pins} == WORKFLOW_FILES
    assert {p.repo for p in pins} == {
        "Kijai/flux-fp8",
        "black-forest-labs/FLUX.1-dev",
        "comfyanonymous/flux_text_encoders",
    }
    # Filled by pin_models.py (it needs the Hub); until then the build refuses it without the build arg.
    for pin in pins:
        assert pin.pinned or (pin.revision, pin.sha256) == ("", ""), pin


def test_an_unfilled_lock_stops_the_build_unless_unpinned_models_are_allowed(tmp_path: Path) -> None:
    lock = tmp_path / "models.lock.toml"
    models_lock.write_lock(lock, [models_lock.ModelPin("owner/repo", "w.safetensors", "unet/w.safetensors")])
    refused = cli("check", str(lock))
    assert refused.returncode == 1
    assert "does not pin owner/repo w.safetensors" in refused.stderr
    assert "pin_models.py" in refused.stderr and "ALLOW_UNPINNED_MODELS=1" in refused.stderr
    assert cli("downloads", str(lock)).returncode == 1  # no download list from it either

    allowed = cli("check", str(lock), allow=True)
    assert allowed.returncode == 0 and "is not pinned" in allowed.stderr
    listed = cli("downloads", str(lock), allow=True)
    assert listed.returncode == 0 and listed.stdout.split() == [
        "owner/repo",
        "w.safetensors",
        "main",
        "unet/w.safetensors",
    ]


def test_a_pinned_lock_downloads_each_file_at_its_commit(tmp_path: Path) -> None:
    lock = pinned_lock(tmp_path, {"unet/a.safetensors": b"a" * 10, "clip/b.safetensors": b"b" * 20})
    assert cli("check", str(lock)).returncode == 0
    listed = cli("downloads", str(lock))
    assert listed.returncode == 0
    assert [line.split() for line in listed.stdout.splitlines()] == [
        ["owner/repo", "a.safetensors", COMMIT_A, "unet/a.safetensors"],
        ["owner/repo", "b.safetensors", COMMIT_A, "clip/b.safetensors"],
    ]


def test_verify_accepts_the_pinned_files_and_refuses_another(tmp_path: Path) -> None:
    lock = pinned_lock(tmp_path, {"unet/a.safetensors": b"weights" * 100, "vae/b.safetensors": b"vae" * 50})
    ok = cli("verify", str(lock), str(tmp_path / "models"))
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.count("sha256 matches the lock") == 2

    # same size, other bytes: only the sha256 can tell
    (tmp_path / "models" / "unet" / "a.safetensors").write_bytes(b"WEIGHTS" * 100)
    bad = cli("verify", str(lock), str(tmp_path / "models"))
    assert bad.returncode == 1
    expected = hashlib.sha256(b"weights" * 100).hexdigest()
    found = hashlib.sha256(b"WEIGHTS" * 100).hexdigest()
    assert f"unet/a.safetensors: sha256 {found}, but models.lock.toml says {expected}" in bad.stderr
    assert f"owner/repo a.safetensors at commit {COMMIT_A}" in bad.stderr and "not the pinned one" in bad.stderr

    (tmp_path / "models" / "vae" / "b.safetensors").unlink()
    missing = cli("verify", str(lock), str(tmp_path / "models"))
    assert missing.returncode == 1 and "vae/b.safetensors: missing" in missing.stderr


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"revision": "main", "sha256": "c" * 64}, "is not a full commit id"),
        ({"revision": COMMIT_A, "sha256": ""}, "revision and sha256 are filled together"),
        ({"sha256": "xyz", "revision": COMMIT_A}, "sha256 must be 64"),
        ({"dest": "../../etc/passwd"}, "must be a relative path"),
        ({"repo": "no-owner"}, "is not a Hugging Face repository"),
        ({"file": "a file.safetensors"}, "without spaces"),
    ],
)
def test_a_lock_that_cannot_pin_is_refused_with_the_entry_named(
    tmp_path: Path, entry: dict[str, Any], message: str
) -> None:
    fields = {"repo": "owner/repo", "file": "w.safetensors", "dest": "unet/w.safetensors", **entry}
    lock = tmp_path / "models.lock.toml"
    body = "\n".join(f'{k} = "{v}"' for k, v in fields.items())
    lock.write_text(f"format = 1\n\n[[model]]\n{body}\n", encoding="utf-8")
    with pytest.raises(models_lock.LockError, match=message) as caught:
        models_lock.read_lock(lock)
    assert "[[model]] #1" in str(caught.value)


def info(commit: str, *files: tuple[str, str | None, int]) -> SimpleNamespace:
    """The shape of huggingface_hub's ModelInfo with files_metadata=True: `.sha`, and `.siblings`
    with `.rfilename`, `.size` and `.lfs` (`.sha256`, `.size`) for LFS files."""
    return SimpleNamespace(
        sha=commit,
        siblings=[
            SimpleNamespace(
                rfilename=name, size=size, lfs=SimpleNamespace(sha256=sha, size=size) if sha is not None else None
            )
            for name, sha, size in files
        ],
    )


def test_pinning_takes_the_commit_and_each_files_lfs_sha256_and_asks_once_per_repo(tmp_path: Path) -> None:
    lock = tmp_path / "models.lock.toml"
    models_lock.write_lock(
        lock,
        [
            models_lock.ModelPin("owner/enc", "clip_l.safetensors", "clip/clip_l.safetensors"),
            models_lock.ModelPin("owner/enc", "t5.safetensors", "clip/t5xxl.safetensors"),
            models_lock.ModelPin("owner/vae", "ae.safetensors", "vae/ae.safetensors"),
        ],
    )
    asked: list[tuple[str, str]] = []
    hub = {
        "owner/enc": info(COMMIT_A, ("clip_l.safetensors", "1" * 64, 246), ("t5.safetensors", "2" * 64, 4_893)),
        "owner/vae": info(COMMIT_B, ("README.md", None, 10), ("ae.safetensors", "3" * 64, 335)),
    }

    def model_info(repo: str, revision: str) -> Any:
        asked.append((repo, revision))
        return hub[repo]

    pins = pin_models.pin_all(models_lock.read_lock(lock), model_info, revision="main", update=False)
    models_lock.write_lock(lock, pins)
    assert asked == [("owner/enc", "main"), ("owner/vae", "main")]
    back = models_lock.read_lock(lock)
    assert [(p.dest, p.revision, p.sha256, p.size) for p in back] == [
        ("clip/clip_l.safetensors", COMMIT_A, "1" * 64, 246),
        ("clip/t5xxl.safetensors", COMMIT_A, "2" * 64, 4_893),
        ("vae/ae.safetensors", COMMIT_B, "3" * 64, 335),
    ]
    assert all(p.pinned for p in back)

    # run again: pinned entries are looked up at their own commit, and must still agree
    asked.clear()
    again = pin_models.pin_all(back, model_info, revision="main", update=False)
    assert again == back and asked == [("owner/enc", COMMIT_A), ("owner/vae", COMMIT_B)]
    hub["owner/vae"] = info(COMMIT_B, ("ae.safetensors", "4" * 64, 335))
    with pytest.raises(models_lock.LockError, match="edited by hand"):
        pin_models.pin_all(back, model_info, revision="main", update=False)


def test_pinning_refuses_what_the_hub_cannot_pin() -> None:
    entry = models_lock.ModelPin("owner/repo", "w.safetensors", "unet/w.safetensors")
    with pytest.raises(models_lock.LockError, match=r"w\.safetensors is not in owner/repo at main .*other\.bin"):
        pin_models.pin(entry, info(COMMIT_A, ("other.bin", "1" * 64, 1)), "main")
    with pytest.raises(models_lock.LockError, match="no LFS sha256"):
        pin_models.pin(entry, info(COMMIT_A, ("w.safetensors", None, 1)), "main")
    with pytest.raises(models_lock.LockError, match="no commit id"):
        pin_models.pin(entry, info("main", ("w.safetensors", "1" * 64, 1)), "main")
    # LFS metadata as a mapping (older huggingface_hub) reads the same
    as_dict = SimpleNamespace(
        sha=COMMIT_A,
        siblings=[SimpleNamespace(rfilename="w.safetensors", size=None, lfs={"sha256": "F" * 64, "size": 7})],
    )
    assert pin_models.pin(entry, as_dict, "main").sha256 == "f" * 64


def test_the_lock_is_never_left_half_written(tmp_path: Path) -> None:
    lock = pinned_lock(tmp_path, {"unet/a.safetensors": b"a"})
    before = lock.read_text()
    with pytest.raises(models_lock.LockError):
        models_lock.write_lock(lock, [models_lock.ModelPin("owner/repo", "a", "../outside")])
    assert lock.read_text() == before and [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def dockerfile_model_step(tmp_path: Path) -> Path:
    """The Dockerfile's model RUN step as a shell script, its absolute paths moved under tmp_path."""
    text = (WORKER_DIR / "Dockerfile").read_text()
    start = text.index("RUN --mount=type=secret,id=hf_token")
    body = text[start : text.index("\nCOPY ", start)].split("\\\n", 1)[1]
    moved = {
        "/comfyui/models": "models",
        "/worker/": "worker/",
        "/run/secrets/hf_token": "secrets/hf_token",
        "/tmp/": "tmp/",
        "/root/.cache/huggingface": "cache",
    }
    body = re.sub("|".join(map(re.escape, moved)), lambda m: f"{tmp_path}/{moved[m.group(0)]}", body)
    script = tmp_path / "model_step.sh"
    script.write_text(f"BAKE_MODELS=1\n{body}\n")
    for name in ("models_lock.py", "model_check.py"):
        (tmp_path / "worker").mkdir(exist_ok=True)
        (tmp_path / "worker" / name).write_bytes((WORKER_DIR / name).read_bytes())
    (tmp_path / "tmp").mkdir()
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "hf_token").write_text("hf_test")
    # a stand-in `hf download REPO FILE --revision REV --local-dir DIR`: logs its call, writes the weights
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "hf").write_text(
        f'#!/bin/sh\necho "$@" >> {tmp_path}/hf-calls\nmkdir -p "$7" && cp "$WEIGHTS_DIR/$3" "$7/$3"\n'
    )
    (bin_dir / "hf").chmod(0o755)
    (bin_dir / "python").symlink_to(sys.executable)
    return script


def test_the_dockerfiles_model_step_downloads_pinned_commits_and_fails_on_another_file(tmp_path: Path) -> None:
    import numpy as np
    from safetensors.numpy import save as save_safetensors  # the weights model_check.py reads

    weights = tmp_path / "weights"
    weights.mkdir()
    # the committed lock's files (the step's model_check.py names them), with stand-in weights
    pins = []
    for i, entry in enumerate(models_lock.read_lock(LOCK)):
        data = save_safetensors({"x": np.full((4,), i, dtype=np.float32)})
        (weights / entry.file).write_bytes(data)
        pins.append(replace(entry, revision=COMMIT_B, sha256=hashlib.sha256(data).hexdigest(), size=len(data)))
    names = {p.file: p.dest for p in pins}
    script = dockerfile_model_step(tmp_path)
    models_lock.write_lock(tmp_path / "worker" / "models.lock.toml", pins)
    env = {**os.environ, "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}", "WEIGHTS_DIR": str(weights)}
    env["ALLOW_UNPINNED_MODELS"] = "0"

    built = subprocess.run(["sh", str(script)], capture_output=True, text=True, env=env, timeout=120, check=False)
    assert built.returncode == 0, built.stderr
    calls = (tmp_path / "hf-calls").read_text().splitlines()
    assert [c.split()[:5] for c in calls] == [["download", p.repo, p.file, "--revision", COMMIT_B] for p in pins]
    for name, dest in names.items():
        assert (tmp_path / "models" / dest).read_bytes() == (weights / name).read_bytes()

    # the Hub now serves other bytes for one file: the build fails, naming it
    (weights / "ae.safetensors").write_bytes(save_safetensors({"x": np.full((4,), 9, dtype=np.float32)}))
    for dest in names.values():
        (tmp_path / "models" / dest).unlink()
    failed = subprocess.run(["sh", str(script)], capture_output=True, text=True, env=env, timeout=120, check=False)
    assert failed.returncode != 0
    assert "vae/ae.safetensors: sha256" in failed.stderr and "not the pinned one" in failed.stderr
    assert "unet/flux1-dev-fp8.safetensors: sha256" not in failed.stderr

    # an unfilled lock: refused before any download
    unpinned = [replace(p, revision="", sha256="", size=0) for p in pins]
    models_lock.write_lock(tmp_path / "worker" / "models.lock.toml", unpinned)
    (tmp_path / "hf-calls").unlink()
    refused = subprocess.run(["sh", str(script)], capture_output=True, text=True, env=env, timeout=120, check=False)
    assert refused.returncode != 0 and "ALLOW_UNPINNED_MODELS=1" in refused.stderr
    assert not (tmp_path / "hf-calls").exists()
