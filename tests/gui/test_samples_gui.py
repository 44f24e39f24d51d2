"""Issue 12 in the app: the version's gallery by checkpoint × prompt (click to enlarge, arrows move),
a checkpoint marked good, two versions compared with the same prompt and seed, a Try from the panel."""

from __future__ import annotations

import io
import json
from typing import Any

from PIL import Image
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from actor_trainer.core.models import VersionStatus
from actor_trainer.core.sample_keys import checkpoint_key, sample_key
from actor_trainer.core.storage.local import path_from_file_url
from actor_trainer.gui.compare.compare_window import CompareWindow
from actor_trainer.gui.context import AppContext
from actor_trainer.gui.versions.samples_hooks import open_try
from actor_trainer.sandbox.samples import render_sample, source_thumbnail
from tests.gui.test_versions_panel import FAST, choose, make_panel, submit, wait_status, write_versions
from tests.library_factory import completed_version
from tests.waits import QT_WAIT_MS

PROMPTS = ["a portrait photo of tok", "a full body photo of tok, standing", "tok in a cafe"]


def drawn_version(
    ctx: AppContext, job: str, name: str, steps: list[int], *, lr: float, keep: bool = True
) -> dict[str, Any]:
    """A completed version whose samples (drawn by the sandbox's renderer from the actor's own
    images) and checkpoint LoRAs are in the local bucket, at the keys the app decides."""
    storage = ctx.services.storage
    root = ctx.library.root / "actors" / "0000" / "training_data"
    sources = [source_thumbnail(p.read_bytes()) for p in sorted(root.glob("*.png"))[:3]]
    model = f"actor_0000_{name}"
    samples, checkpoints = [], []
    for step in steps:
        for i, prompt in enumerate(PROMPTS):
            url = storage.url_for_key(sample_key("", 0, model, step, i))  # type: ignore[attr-defined]
            path = path_from_file_url(url)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(render_sample(sources, prompt=prompt, seed=42, step=step, total=steps[-1], index=i))
            samples.append({"url": url, "prompt": prompt, "seed": 42, "step": step, "index": i})
        if keep:
            url = storage.url_for_key(checkpoint_key("", 0, model, step))  # type: ignore[attr-defined]
            path_from_file_url(url).write_bytes(b"lora")
            checkpoints.append({"step": step, "url": url})
    return completed_version(
        job,
        name,
        samples=samples,
        checkpoints=checkpoints,
        contractVersion=2,
        parameters={"learning_rate": lr, "max_train_steps": steps[-1], "network_dim": 8},
        lossHistory=[[s, 0.4 - s / 20000] for s in steps],
    )


def registry(ctx: AppContext) -> dict[str, Any] | None:
    actors = json.loads(ctx.library.actors_file.read_text(encoding="utf-8"))
    return next(a for a in actors if a["id"] == 0)["validated_lora_model"]


def test_gallery_by_checkpoint_and_prompt_enlarges_and_marks_a_checkpoint(qtbot: QtBot, light_ctx: AppContext) -> None:
    write_versions(light_ctx, 0, [drawn_version(light_ctx, "job-1", "V1", [500, 1000], lr=0.0004)])
    panel = make_panel(qtbot, light_ctx)
    choose(qtbot, light_ctx, panel, 0)
    panel.select_version("V1")
    section = panel.samples
    assert section.isVisible()
    assert len(section.tiles) == 6  # 2 checkpoints × 3 prompts
    qtbot.waitUntil(lambda: all(t.loaded for t in section.tiles), timeout=QT_WAIT_MS)
    assert set(section.mark_buttons) == {500, 1000}

    qtbot.mouseClick(section.tiles[1], Qt.MouseButton.LeftButton)
    viewer = section.viewer
    assert viewer.index == 1 and "step 500" in viewer.caption.text() and PROMPTS[1] in viewer.caption.text()
    qtbot.waitUntil(
        lambda: viewer.picture.pixmap() is not None and not viewer.picture.pixmap().isNull(), timeout=QT_WAIT_MS
    )
    qtbot.keyClick(viewer, Qt.Key.Key_Right)
    assert viewer.index == 2 and PROMPTS[2] in viewer.caption.text()
    qtbot.keyClick(viewer, Qt.Key.Key_Right)
    assert viewer.index == 3 and "step 1000" in viewer.caption.text()
    qtbot.keyClick(viewer, Qt.Key.Key_Left)
    assert viewer.index == 2
    viewer.close()

    # The checkpoint at step 500 marked good: the registry records that file.
    qtbot.mouseClick(section.mark_buttons[500], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: (registry(light_ctx) or {}).get("checkpoint_step") == 500, timeout=QT_WAIT_MS)
    assert (registry(light_ctx) or {})["lora_url"].endswith("actor_0000_V1_step000500.safetensors")
    qtbot.waitUntil(
        lambda: section.mark_buttons.get(500) is not None and not section.mark_buttons[500].isEnabled(),
        timeout=QT_WAIT_MS,
    )
    assert section.mark_buttons[500].text() == "✓ Good" and section.mark_buttons[1000].isEnabled()


def test_compare_two_versions_same_prompt_and_seed_and_mark_good(qtbot: QtBot, light_ctx: AppContext) -> None:
    write_versions(
        light_ctx,
        0,
        [
            drawn_version(light_ctx, "job-2", "V2", [500, 1000], lr=0.0002),
            drawn_version(light_ctx, "job-1", "V1", [500, 1000], lr=0.0004, keep=False),
        ],
    )
    light_ctx.select_actor(0)
    window = CompareWindow(light_ctx, 0, "job-2")
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: len(window.row_titles) == 2, timeout=QT_WAIT_MS)
    assert window.row_titles == ["V2", "V1"] and window.columns == PROMPTS
    assert len(window.tiles) == 6
    qtbot.waitUntil(lambda: all(t.loaded for t in window.tiles), timeout=QT_WAIT_MS)
    # Each column: one prompt, one seed, every version.
    for c in range(3):
        column = [t.sample for t in window.tiles[c::3]]
        assert {s.prompt for s in column} == {PROMPTS[c]} and {s.seed for s in column} == {42}
    # One prompt, larger; a checkpoint added as a third row.
    window.prompt.setCurrentIndex(window.prompt.findData(PROMPTS[0]))
    assert window.columns == [PROMPTS[0]] and len(window.tiles) == 2
    assert window.choose_label("V2@500")
    assert window.row_titles == ["V2", "V1", "V2@500"]
    assert [t.sample.step for t in window.tiles] == [1000, 1000, 500]
    # A fourth is fine, a fifth is refused.
    assert window.choose_label("V1@500")
    window.choose_label("V2@500", False)
    window.choose_label("V1@500", False)
    # Mark as good from here: V1's final LoRA.
    labels = [b.parentWidget().findChildren(type(window.note))[0].text() for b in window.mark_buttons]
    assert labels == ["V2", "V1"]
    qtbot.mouseClick(window.mark_buttons[1], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: (registry(light_ctx) or {}).get("version_name") == "V1", timeout=QT_WAIT_MS)
    assert "checkpoint_step" not in (registry(light_ctx) or {})
    # V2@500 (kept) is marked good from the compare window too.
    assert window.choose_label("V2@500")
    qtbot.mouseClick(window.mark_buttons[2], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: (registry(light_ctx) or {}).get("checkpoint_step") == 500, timeout=QT_WAIT_MS)


def test_try_a_new_prompt_from_the_panel(qtbot: QtBot, gui_ctx: AppContext) -> None:
    panel = make_panel(qtbot, gui_ctx)
    choose(qtbot, gui_ctx, panel, 0)
    version = submit(qtbot, gui_ctx)
    done = wait_status(qtbot, panel, version.name, VersionStatus.COMPLETED)
    panel.select_version(done.name)
    assert panel.samples.try_button.isVisible() and panel.samples.try_button.isEnabled()
    try_panel = open_try(gui_ctx, 0, done.key, panel)
    assert try_panel is not None
    qtbot.addWidget(try_panel)
    trigger = done.parameters.trigger_for(gui_ctx.summary(0).actor)  # type: ignore[union-attr]
    assert trigger in try_panel.prompt.text()  # the trigger is inserted
    before = try_panel.seed.value()
    for _ in range(5):  # the dice gives another seed (5 rolls: a repeat each time is ~1 in 2^155)
        try_panel.dice.click()
        if try_panel.seed.value() != before:
            break
    assert try_panel.seed.value() != before
    try_panel.prompt.setText(f"{trigger} riding a bicycle at dusk")
    try_panel.seed.setValue(1234)
    try_panel.count.setValue(2)
    assert try_panel.send()
    qtbot.waitUntil(lambda: len(try_panel.tiles) == 2, timeout=QT_WAIT_MS)
    qtbot.waitUntil(lambda: all(t.loaded for t in try_panel.tiles), timeout=QT_WAIT_MS)
    assert [t.sample.seed for t in try_panel.tiles] == [1234, 1235]
    image = Image.open(io.BytesIO(path_from_file_url(try_panel.tiles[0].sample.url).read_bytes()))
    assert image.format == "PNG"
    # Kept with the version: the details list the try and its images.
    qtbot.waitUntil(lambda: len(panel.samples.trial_tiles) == 2, timeout=QT_WAIT_MS)
    stored = gui_ctx.library.get_version(0, done.key).trials
    assert stored and stored[0].prompt.endswith("riding a bicycle at dusk")
    assert stored[0].status is VersionStatus.COMPLETED


def test_console_strip_shows_samples_as_each_checkpoint_lands(qtbot: QtBot, qloop: Any, tmp_path: Any) -> None:
    from actor_trainer.core.models import SampleSettings
    from actor_trainer.gui.console.console_panel import ConsolePanel
    from tests.gui.contexts import close_context, open_context

    ctx = open_context(qloop, qtbot, tmp_path / "lib", start=True, sandbox_duration_s=6.0)
    try:
        console = ConsolePanel(ctx, log_path=tmp_path / "console.log")
        qtbot.addWidget(console)
        console.show()
        ctx.select_actor(0)
        params = FAST.model_copy(update={"max_train_steps": 60, "sampling": SampleSettings(every=20)})
        version = submit(qtbot, ctx, params)
        strip = console.sample_strip
        # The first checkpoint's samples while the run is still in progress…
        qtbot.waitUntil(lambda: len(strip.tiles) == 4, timeout=QT_WAIT_MS)
        shown = console.shown_version()
        assert shown is not None and shown.key == version.key and shown.status is VersionStatus.IN_PROGRESS
        assert "step 20" in strip.title.text() and {t.sample.step for t in strip.tiles} == {20}
        qtbot.waitUntil(lambda: all(t.loaded for t in strip.tiles), timeout=QT_WAIT_MS)
        # …then the next ones replace them as they land, the run going on.
        qtbot.waitUntil(lambda: "step 40" in strip.title.text(), timeout=QT_WAIT_MS)
        assert {t.sample.step for t in strip.tiles} == {40}
        qtbot.waitUntil(lambda: "step 60" in strip.title.text(), timeout=QT_WAIT_MS)
        qtbot.mouseClick(strip.tiles[0], Qt.MouseButton.LeftButton)
        assert strip.viewer.index == 8 and strip.viewer.current() is not None  # the 9th of 12 samples
    finally:
        close_context(qloop, qtbot, ctx)


def test_a_v1_endpoint_offers_neither_samples_nor_try(qtbot: QtBot, light_ctx: AppContext) -> None:
    import dataclasses

    light_ctx.services.config = dataclasses.replace(light_ctx.services.config, worker_contract="1")
    assert not light_ctx.speaks_v2()
    write_versions(light_ctx, 0, [completed_version("job-1", "V1")])
    panel = make_panel(qtbot, light_ctx)
    choose(qtbot, light_ctx, panel, 0)
    panel.select_version("V1")
    section = panel.samples
    assert not section.try_button.isVisible() and section.compare_button.isVisible()
    assert section.note.isVisible() and "contract v1" in section.note.text()
    assert section.tiles == []
    try_panel = open_try(light_ctx, 0, "job-1", panel)
    assert try_panel is not None
    qtbot.addWidget(try_panel)
    assert not try_panel.try_button.isEnabled() and "v1" in try_panel.status.text()


def test_tries_are_compared_like_samples(qtbot: QtBot, light_ctx: AppContext) -> None:
    v2 = drawn_version(light_ctx, "job-2", "V2", [500], lr=0.0002)
    v1 = drawn_version(light_ctx, "job-1", "V1", [500], lr=0.0004)
    for version, other in ((v2, "other prompt"), (v1, "tok on a beach")):
        image = dict(version["samples"][0], prompt="tok on a beach", seed=7, step=None)
        version["trials"] = [
            {
                "id": f"t-{version['name']}",
                "status": "completed",
                "prompt": "tok on a beach",
                "seed": 7,
                "images": [image],
            },
            {
                "id": f"u-{version['name']}",
                "status": "completed",
                "prompt": other,
                "seed": 8,
                "images": [dict(image, prompt=other, seed=8)],
            },
        ]
    write_versions(light_ctx, 0, [v2, v1])
    light_ctx.select_actor(0)
    window = CompareWindow(light_ctx, 0, "job-2")
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: len(window.row_titles) == 2, timeout=QT_WAIT_MS)
    window.source.setCurrentIndex(window.source.findData("tries"))
    # The same prompt and seed tried on both lines up in one column; a try only one has is empty for the other.
    assert window.columns == ["tok on a beach · seed 7", "other prompt · seed 8", "tok on a beach · seed 8"]
    assert [(t.sample.prompt, t.sample.seed) for t in window.tiles] == [
        ("tok on a beach", 7),
        ("other prompt", 8),  # V2: nothing tried with seed 8 on the beach
        ("tok on a beach", 7),
        ("tok on a beach", 8),
    ]  # V1: no "other prompt"


def test_the_actor_menu_opens_compare_on_the_selected_version(qtbot: QtBot, light_ctx: AppContext) -> None:
    from PySide6.QtGui import QAction
    from PySide6.QtWidgets import QApplication

    from tests.gui.test_main_window import window_opener

    write_versions(
        light_ctx,
        0,
        [
            drawn_version(light_ctx, "job-2", "V2", [500], lr=0.0002),
            drawn_version(light_ctx, "job-1", "V1", [500], lr=0.0004),
        ],
    )
    opener = window_opener(light_ctx, qtbot)
    window = next(opener)()
    try:
        with qtbot.waitSignal(window.versions.versionsLoaded, timeout=QT_WAIT_MS):
            light_ctx.select_actor(0)
        window.versions.select_version("V1")
        action = window.findChild(QAction, "compareVersionsAction")
        assert action is not None and action.text() == "Compare versions…"
        action.trigger()
        compare = next(w for w in QApplication.topLevelWidgets() if isinstance(w, CompareWindow) and w.isVisible())
        qtbot.waitUntil(lambda: len(compare.row_titles) == 2, timeout=QT_WAIT_MS)
        assert compare.row_titles[0] == "V1"  # the selected version comes first
        compare.close()
    finally:
        next(opener, None)


def test_compare_says_which_checkpoint_failed_to_upload(qtbot: QtBot, light_ctx: AppContext) -> None:
    """A kept checkpoint the worker could not upload cannot be marked good; Compare says so, and why."""
    version = drawn_version(light_ctx, "job-2", "V2", [500, 1000, 1500], lr=0.0002, keep=False)
    version["checkpointFailures"] = {"500": "Could not upload step 500: NoSuchBucket"}
    write_versions(light_ctx, 0, [version])
    light_ctx.select_actor(0)
    window = CompareWindow(light_ctx, 0, "job-2")
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: len(window.row_titles) == 1, timeout=QT_WAIT_MS)
    assert window.choose_label("V2@500") and window.choose_label("V2@1000")
    failed, not_kept = window.mark_buttons[1], window.mark_buttons[2]
    assert failed.text() == "Checkpoint upload failed" and not failed.isEnabled()
    assert "NoSuchBucket" in failed.toolTip()
    assert not_kept.text() == "Checkpoint not kept" and not not_kept.isEnabled()
