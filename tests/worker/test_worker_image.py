"""What can be checked of the reference worker's image without Docker (packaging/worker).

Fast: every moving part is pinned (ComfyUI and ComfyUI-FluxTrainer commits, both Python locks with
`==` only), no `huggingface-cli` (huggingface_hub >= 1.0 has only `hf`), the known-bad versions are
out of the lock, every handler module is copied into the image.
Slow (they reach PyPI): the handler's lock installs into a clean venv where the handler imports;
ComfyUI's lock resolves, as a whole, for the image's platform and Python.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WORKER = ROOT / "packaging" / "worker"
DOCKERFILE = (WORKER / "Dockerfile").read_text()
PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[0-9][0-9A-Za-z.+!-]*)$")


def _lock(name: str) -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (WORKER / name).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = PIN.match(line)
        assert match, f"{name}: {line!r} is not pinned with =="
        key = match["name"].lower().replace("_", "-").replace(".", "-")
        assert key not in pins, f"{name}: {key} is pinned twice"
        pins[key] = match["version"]
    return pins


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text)[:3])


def _arg(name: str) -> str:
    match = re.search(rf"^ARG {name}=(\S+)$", DOCKERFILE, re.MULTILINE)
    assert match, f"the Dockerfile has no default for {name}"
    return match.group(1)


def test_the_dockerfile_checks_out_the_pinned_comfyui_and_fluxtrainer_commits() -> None:
    assert _arg("COMFYUI_REF") == "a125cd8"
    assert _arg("FLUXTRAINER_REF") == "639b3e8"
    # Each clone is followed by a checkout of its ref (a short id needs the full clone).
    assert re.search(
        r"git clone https://github\.com/Comfy-Org/ComfyUI\.git /comfyui\s*\\\n"
        r"\s*&& git -C /comfyui .*checkout --detach \"\$COMFYUI_REF\"",
        DOCKERFILE,
    )
    assert re.search(
        r"git clone https://github\.com/kijai/ComfyUI-FluxTrainer\.git (\S+)\s*\\\n"
        r"\s*&& git -C \1 .*checkout --detach \"\$FLUXTRAINER_REF\"",
        DOCKERFILE,
    )
    assert "master" not in DOCKERFILE and "ARG FLUXTRAINER_REF=main" not in DOCKERFILE


def test_models_come_down_with_hf_download_never_huggingface_cli() -> None:
    for name in ("Dockerfile", "start.sh"):
        assert "huggingface-cli" not in (WORKER / name).read_text(), name
    # One download per entry of models.lock.toml, at the entry's revision (tests/worker/test_models_lock.py).
    assert re.findall(r"hf download (\S+) (\S+) --revision (\S+)", DOCKERFILE) == [
        ('"$repo"', '"$file"', '"$revision"')
    ]
    assert "python /worker/models_lock.py downloads /worker/models.lock.toml" in DOCKERFILE
    assert "FLUX_TRANSFORMER_REVISION" not in DOCKERFILE and "--revision main" not in DOCKERFILE
    # hf_transfer is not in the lock: with HF_HUB_ENABLE_HF_TRANSFER=1 the hub would refuse to download.
    assert "HF_HUB_ENABLE_HF_TRANSFER" not in DOCKERFILE
    assert "hf-transfer" not in _lock("requirements-comfyui.txt")
    # The `hf` command exists from huggingface_hub 0.34 on; transformers 4 needs it below 1.0.
    assert (0, 34) <= _version(_lock("requirements-comfyui.txt")["huggingface-hub"]) < (1,)


def test_comfyuis_lock_keeps_the_versions_fluxtrainer_imports_with() -> None:
    lock = _lock("requirements-comfyui.txt")
    assert _version(lock["transformers"]) < (5,)  # 5.x removed CLIPFeatureExtractor
    assert _version(lock["diffusers"]) < (0, 36)  # 0.36 needs huggingface_hub >= 1
    assert lock["torch"] == "2.14.1" and lock["torchvision"] == "0.29.1"
    assert "torchaudio" not in lock  # no build existed for this torch
    for needed in ("accelerate", "bitsandbytes", "safetensors", "hf-xet", "setuptools", "comfyui-frontend-package"):
        assert needed in lock, needed
    assert len(lock) >= 120


def test_the_handlers_lock_pins_an_sdk_that_cancels_the_handler() -> None:
    lock = _lock("requirements.txt")
    assert _version(lock["runpod"]) >= (1, 10)  # earlier SDKs never cancel the handler's task
    for needed in ("boto3", "botocore", "s3transfer", "httpx", "aiohttp"):
        assert needed in lock, needed
    assert _version(lock["python-dateutil"]) < (3,)  # botocore's bound (why the handler has its own venv)


def test_the_image_installs_the_locks_and_every_handler_module() -> None:
    assert "pip install -r /comfyui/requirements-locked.txt" in DOCKERFILE
    assert "COPY requirements-comfyui.txt /comfyui/requirements-locked.txt" in DOCKERFILE
    assert "/worker/venv/bin/pip install -r /worker/requirements.txt" in DOCKERFILE
    # Never the unpinned requirements of the checkouts.
    assert not re.search(r"pip install -r /comfyui/(requirements\.txt|custom_nodes)", DOCKERFILE)
    joined = re.sub(r"\\\n\s*", " ", DOCKERFILE)  # continuation lines
    copied = {name for line in re.findall(r"^COPY (.+) \S+$", joined, re.MULTILINE) for name in line.split()}
    assert "start.sh" in copied
    modules = {p.name for p in WORKER.glob("*.py")} - {"pin_models.py"}  # run by a developer, not the image
    assert modules <= copied, f"not copied into the image: {sorted(modules - copied)}"
    assert copied <= {p.name for p in WORKER.iterdir()}, "the Dockerfile copies a file that does not exist"
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11[-.]", DOCKERFILE, re.MULTILINE)  # the locks' Python
    assert 'CMD ["/worker/start.sh"]' in DOCKERFILE
    assert "/worker/venv/bin/python -u /worker/handler.py" in (WORKER / "start.sh").read_text()


def _pip(python: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python), "-m", "pip", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=cwd,
        check=False,
    )


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_handlers_lock_installs_into_a_clean_venv_where_the_handler_imports(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    installed = _pip(python, "install", "-q", "-r", str(WORKER / "requirements.txt"))
    assert installed.returncode == 0, installed.stderr[-3000:]
    checked = _pip(python, "check")
    assert checked.returncode == 0, checked.stdout
    # The image's /worker: the modules alone, no trace of the app or of this test environment.
    image_dir = tmp_path / "worker"
    image_dir.mkdir()
    for module in WORKER.glob("*.py"):
        shutil.copy(module, image_dir)
    probe = (
        "import handler, runpod, importlib.metadata as m; "
        "assert callable(handler.handler) and callable(handler.handle); "
        "print(m.version('runpod'))"
    )
    ran = subprocess.run(
        [str(python), "-I", "-c", f"import sys; sys.path.insert(0, '.'); {probe}"],
        capture_output=True,
        text=True,
        cwd=image_dir,
        timeout=120,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert ran.stdout.strip() == _lock("requirements.txt")["runpod"]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_comfyuis_lock_resolves_as_a_whole_for_the_images_platform(tmp_path: Path) -> None:
    # pip's resolver on the lock, for Linux x86_64 / CPython 3.11 wheels, without installing: every
    # pinned version exists for the platform and their requirements agree (what `pip install` and
    # `pip check` in the Dockerfile need).
    platforms: list[str] = []
    for tag in [
        *(f"manylinux_2_{minor}_x86_64" for minor in range(36, 4, -1)),
        "manylinux2014_x86_64",
        "manylinux2010_x86_64",
        "manylinux1_x86_64",
        "linux_x86_64",
    ]:
        platforms += ["--platform", tag]
    report = tmp_path / "report.json"
    resolved = _pip(
        Path(sys.executable),
        "install", "-q", "--dry-run", "--ignore-installed", "--only-binary=:all:",
        *platforms,
        "--python-version", "3.11", "--implementation", "cp", "--abi", "cp311",
        "--target", str(tmp_path / "target"),
        "-r", str(WORKER / "requirements-comfyui.txt"),
        "--report", str(report),
    )  # fmt: skip
    assert resolved.returncode == 0, resolved.stderr[-3000:]
    chosen = {
        item["metadata"]["name"].lower().replace("_", "-").replace(".", "-"): item["metadata"]["version"]
        for item in json.loads(report.read_text())["install"]
    }
    assert chosen == _lock("requirements-comfyui.txt")  # nothing more, nothing less, nothing else
