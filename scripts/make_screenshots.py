"""Render the README's and the user guide's screenshots from the real app: the actor selector, the
chosen actor, Auto-adjust, the tunnel panel, Settings, the main window mid-run, the versions panel,
Mark as good, and the run's sample gallery, Compare and Try — on a copy of the demo library, in the
sandbox (docs/user-guide.md shows them).

    .venv/bin/python scripts/make_screenshots.py [--out docs/screenshots]

Runs offscreen (no display needed). Nothing is faked: a real sandbox run is started through the
Start button and photographed while it trains, then again after it completed.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--theme", choices=("light", "dark"), default="light")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="actor-trainer-shots-"))
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ["QT_API"] = "pyside6"
    for var, sub in (
        ("XDG_CONFIG_HOME", "config"),
        ("XDG_DATA_HOME", "data"),
        ("XDG_CACHE_HOME", "cache"),
        ("XDG_STATE_HOME", "state"),
    ):
        os.environ[var] = str(tmp / sub)
    os.environ["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"

    import qasync
    from PySide6.QtWidgets import QApplication

    app = QApplication(sys.argv[:1])
    app.setApplicationName("Actor Trainer")
    app.setQuitOnLastWindowClosed(False)  # the script decides when it ends
    try:
        with asyncio.Runner(loop_factory=lambda: qasync.QEventLoop(app)) as runner:
            return runner.run(shoot(app, args, tmp))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


async def pause(seconds: float) -> None:
    await asyncio.sleep(seconds)


async def wait_for(predicate, limit_s: float = 60.0, what: str = "condition") -> None:  # type: ignore[no-untyped-def]
    for _ in range(int(limit_s / 0.05)):
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise TimeoutError(f"timed out waiting for {what}")


async def shoot(app, args: argparse.Namespace, tmp: Path) -> int:  # type: ignore[no-untyped-def]
    from actor_trainer.core.settings import Settings, resolve_config
    from actor_trainer.gui.context import AppContext
    from actor_trainer.gui.shell.main_window import MainWindow
    from actor_trainer.gui.shell.theme import ThemeManager
    from actor_trainer.runtime import Services

    library = tmp / "library"
    shutil.copytree(ROOT / "data", library)
    settings = Settings(theme=args.theme)
    config = dataclasses.replace(resolve_config(settings, data_dir=library), sandbox_duration_s=14.0, poll_seconds=2.0)
    services = Services(config)
    ctx = AppContext(settings, config, services)
    await services.start()
    await ctx.load_library()
    theme = ThemeManager(app, args.theme)
    window = MainWindow(ctx, theme, choose_actor_on_start=False, settings_path=tmp / "window.ini")
    window.resize(1560, 960)
    window.show()
    from PySide6.QtCore import Qt

    window.resizeDocks([window.side_dock], [640], Qt.Orientation.Horizontal)
    args.out.mkdir(parents=True, exist_ok=True)
    saved: list[Path] = []

    def grab(widget, name: str, *, small: bool = False, height: int | None = None) -> None:  # type: ignore[no-untyped-def]
        """Save `widget` as `name` (its top `height` px only, when given); `small`: 256 colours,
        which keeps a picture full of sample images near 100 KB instead of 300."""
        path = args.out / name
        if height is None:
            pixmap = widget.grab()
        else:
            from PySide6.QtCore import QRect

            pixmap = widget.grab(QRect(0, 0, widget.width(), height))
        pixmap.save(str(path))
        if small:
            from PIL import Image

            with Image.open(path) as image:
                quantized = image.convert("RGB").quantize(256, Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
            quantized.save(path, optimize=True)
        saved.append(path)
        print("saved", path, flush=True)

    try:
        # 1. The selector, as an artist first sees it.
        selector = window.open_actor_selector()
        selector.resize(1180, 820)
        await pause(2.5)  # posters decode off the GUI thread
        grab(selector, "selector.png")
        selector.reject()

        # 2. The whole flow: pick actor 0010 (25 images) — Start says why it waits: the pictures are
        # not in the bucket yet — then sync, start the tunnel, auto-adjust, train.
        ctx.select_actor(10)
        await wait_for(lambda: window.training_tab.start.has_answer, what="Start's answer")
        await pause(2.0)  # the thumbnails decode off the GUI thread
        grab(window, "guide-choose-actor.png")
        ctx.sync_now(10)
        await wait_for(lambda: ctx.sync_states.get(10) is not None and ctx.sync_states[10].is_synced, what="sync")
        window.tunnel_panel.start()
        await wait_for(
            lambda: services.tunnel is not None and services.tunnel.public_url is not None, what="the tunnel"
        )
        window.tunnel_panel._toggle.setChecked(True)  # "More details": the mode switch and what it means
        await pause(0.5)
        grab(window.tunnel_dock, "guide-tunnel.png")
        tab = window.training_tab
        tab.form.set_image_count(25)
        dialog = tab.form.open_auto_adjust()
        dialog.resize(820, 620)
        await pause(0.5)
        grab(dialog, "guide-auto-adjust.png")
        dialog.apply_button.click()
        tab.description.setPlainText("Auto-adjusted for 25 images; cosine schedule")
        started: list[str] = []
        tab.trainingStarted.connect(lambda _actor, ref: started.append(ref))
        await wait_for(tab.can_start, what="Start to be enabled")
        if not tab.start_training():
            raise RuntimeError(f"Start refused: {tab.disabled_reason()}")
        await wait_for(lambda: bool(started), what="the run to be submitted")

        def new_run_half_way() -> bool:
            shown = window.console.shown_version()
            return shown is not None and started[0] in (shown.id, shown.requestId) and _console_progress(window) >= 0.45

        await wait_for(new_run_half_way, limit_s=60, what="the run to be half-way")
        grab(window, "main-window-mid-run.png")

        # 3. After completion: the versions panel, the new version selected.
        await wait_for(lambda: "Completed" in window.console.status_text(), limit_s=60, what="the run to complete")
        # The console's live strip: the newest checkpoint's samples (issue 12), cropped under the strip.
        strip = window.console.sample_strip
        await wait_for(lambda: len(strip.tiles) >= 4 and all(t.loaded for t in strip.tiles), what="the sample strip")
        await pause(0.3)
        bottom = strip.mapTo(window.console, strip.rect().bottomLeft()).y() + 8
        grab(window.console, "guide-sample-strip.png", small=True, height=bottom)
        window.show_versions()
        await pause(0.5)
        window.versions.select_version(started[0])
        await pause(0.5)
        grab(window, "versions-panel.png")

        # 4. What the version draws (issue 12): Compare of its checkpoints, a Try, its sample gallery.
        await shoot_samples(window, ctx, grab, started[0])

        # 5. Mark as good: the row and the details say "Good"; Unmark good appears.
        window.versions.version_actions.confirm = lambda _title, _question: True  # replaces V1's mark
        marked: list[object] = []
        window.versions.version_actions.markedGood.connect(lambda _a, v: marked.append(v))
        window.versions.version_actions.mark_good_selected()
        await wait_for(lambda: bool(marked), what="mark as good")
        await pause(0.3)
        grab(window.versions, "guide-mark-good.png")

        # 6. Settings, as a first-time user fills them in for a real endpoint.
        from actor_trainer.gui.settings.settings_dialog import SettingsDialog

        settings_dialog = SettingsDialog(ctx, window)
        settings_dialog.show()
        await pause(0.5)
        grab(settings_dialog, "guide-settings.png")
        settings_dialog.reject()
    finally:
        window.allow_close()
        window.close()
        await ctx.shutdown(timeout_s=5)
    for path in saved:
        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    return 0


async def shoot_samples(window, ctx, grab, ref: str) -> None:  # type: ignore[no-untyped-def]
    """Compare of the run's checkpoints and its final LoRA, a Try of it with its images, then the
    run's sample gallery with that try, and one sample enlarged (the sandbox draws every image and
    stamps it SIMULATED)."""
    from PySide6.QtWidgets import QApplication

    from actor_trainer.core.models import VersionStatus
    from actor_trainer.gui.versions.sample_images import ImageViewer
    from actor_trainer.gui.versions.samples_hooks import open_compare, open_try

    version = next(v for v in ctx.versions.versions() if ref in (v.id, v.requestId))
    compare = open_compare(ctx, 10, version.key, window)
    compare.resize(1330, 800)
    await wait_for(lambda: len(compare.choice_labels()) > 1, what="Compare's choices")
    steps = sorted({s.step for s in version.samples or [] if s.step is not None})
    for step in (steps[0], steps[len(steps) // 2 - 1]):  # the first checkpoint and a middle one
        compare.choose((version.key, step), True)
    await wait_for(lambda: len(compare.tiles) >= 12, what="Compare's rows")
    await wait_for(lambda: all(t.loaded for t in compare.tiles), what="Compare's images")
    await pause(0.3)
    grab(compare, "guide-compare.png", small=True)
    compare.close()

    panel = open_try(ctx, 10, version.key, window)
    assert panel is not None
    panel.resize(760, panel.sizeHint().height())
    panel.prompt.setText(panel.prompt.text() + "walking on a beach at sunset")
    panel.seed.setValue(1234)
    panel.count.setValue(3)
    if not panel.send():
        raise RuntimeError(f"Try refused: {panel.status.text()}")

    def tried() -> bool:
        trial = panel.trial()
        return trial is not None and trial.status is VersionStatus.COMPLETED and len(panel.tiles) == 3

    await wait_for(tried, what="the Try's images")
    await wait_for(lambda: all(t.loaded for t in panel.tiles), what="the Try's images to load")
    panel.prompt.setCursorPosition(0)
    await pause(0.3)
    grab(panel, "guide-try.png", small=True)
    panel.close()

    section = window.versions.samples
    await wait_for(lambda: len(section.tiles) >= 8 and len(section.trial_tiles) == 3, what="the sample gallery")
    await wait_for(lambda: all(t.loaded for t in section.tiles + section.trial_tiles), what="the gallery's images")
    await pause(0.3)
    grab(section, "guide-samples-gallery.png", small=True)

    section.tiles[-4].clicked.emit()  # the last checkpoint's first prompt, enlarged

    def viewer() -> ImageViewer | None:
        return next((w for w in QApplication.topLevelWidgets() if isinstance(w, ImageViewer) and w.isVisible()), None)

    await wait_for(lambda: viewer() is not None, what="the image viewer")
    shown = viewer()
    assert shown is not None
    await wait_for(lambda: shown.picture.pixmap() is not None and not shown.picture.pixmap().isNull(), what="it")
    await pause(0.3)
    grab(shown, "guide-sample-viewer.png", small=True)
    shown.close()


def _console_progress(window) -> float:  # type: ignore[no-untyped-def]
    bar = window.console.progress.bar
    if bar.maximum() <= 0:
        return 0.0
    return bar.value() / bar.maximum()


if __name__ == "__main__":
    raise SystemExit(main())
