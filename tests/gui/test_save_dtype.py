"""Issue 10, item 11: the LoRA a run saves is in the Save dtype chosen in the form."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import numpy as np
import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from actor_trainer.core.models import TrainingVersion
from actor_trainer.gui.training.training_tab import ActorTrainingTab
from actor_trainer.sandbox.lora import make_lora_bytes
from tests.waits import QT_WAIT_MS


def header(data: bytes) -> dict[str, Any]:
    (length,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8 : 8 + length])


def tensor_dtypes(data: bytes) -> set[str]:
    return {v["dtype"] for k, v in header(data).items() if k != "__metadata__"}


def test_the_run_saves_the_lora_in_the_chosen_save_dtype(gui_ctx: Any, qtbot: QtBot) -> None:
    tab = ActorTrainingTab(gui_ctx)
    qtbot.addWidget(tab)
    tab.resize(900, 800)
    tab.show()
    gui_ctx.select_actor(0)
    qtbot.waitUntil(tab.can_start, timeout=QT_WAIT_MS)
    fields = tab.form.fields
    for name, text in (("max_train_steps", "40"), ("network_dim", "4"), ("network_alpha", "4")):
        fields[name].editor.setFocus()
        fields[name].editor.selectAll()
        qtbot.keyClicks(fields[name].editor, text)
    tab.form.advanced_toggle.click()
    combo = fields["save_dtype"].editor
    combo.setCurrentIndex(combo.findText("fp32"))
    qtbot.waitUntil(tab.can_start, timeout=QT_WAIT_MS)
    ended: list[TrainingVersion] = []
    gui_ctx.bridge.versionChanged.connect(lambda _a, v: ended.append(v) if v.status.is_terminal else None)
    qtbot.mouseClick(tab.start.button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(ended), timeout=QT_WAIT_MS * 2)
    version = ended[-1]
    assert version.status.value == "completed", version
    assert version.parameters is None or version.parameters.save_dtype == "fp32"
    path = Path(unquote(urlparse(version.loraUrl or "").path))
    data = path.read_bytes()
    assert tensor_dtypes(data) == {"F32"}


@pytest.mark.parametrize(
    ("save_dtype", "name", "width"),
    [
        ("fp32", "F32", 4),
        ("fp16", "F16", 2),
        ("bf16", "BF16", 2),
        ("fp8_e4m3fn", "F8_E4M3", 1),
        ("fp8_e5m2", "F8_E5M2", 1),
    ],
)
def test_every_save_dtype_writes_its_own_tensors(save_dtype: str, name: str, width: int) -> None:
    data = make_lora_bytes(network_dim=2, network_alpha=1, metadata={}, seed=0, blocks=1, save_dtype=save_dtype)
    head = header(data)
    assert tensor_dtypes(data) == {name}
    for key, info in head.items():
        if key != "__metadata__":
            start, end = info["data_offsets"]
            assert end - start == int(np.prod(info["shape"] or [1])) * width
    # The alpha round-trips exactly (1.0 is representable in every one of them).
    (length,) = struct.unpack("<Q", data[:8])
    alpha = head["lora_unet_double_blocks_0_img_attn_qkv.alpha"]
    raw = data[8 + length + alpha["data_offsets"][0] : 8 + length + alpha["data_offsets"][1]]
    decoded = {
        "F32": lambda b: np.frombuffer(b, "<f4")[0],
        "F16": lambda b: np.frombuffer(b, "<f2")[0],
        "BF16": lambda b: (np.frombuffer(b, "<u2").astype(np.uint32) << 16).view(np.float32)[0],
        "F8_E4M3": lambda b: 1.0 if b == b"\x38" else float("nan"),
        "F8_E5M2": lambda b: 1.0 if b == b"\x3c" else float("nan"),
    }[name](raw)
    assert decoded == 1.0
