"""Make every installer icon from the one source image, resources/app-icon/actor-trainer.svg.

    .venv/bin/python scripts/make_icons.py          # (re)write the icons
    .venv/bin/python scripts/make_icons.py --check  # exit 1 when a written icon is missing or stale

Writes into resources/app-icon/:
- hicolor/<N>x<N>/actor-trainer.png for every size in SIZES (the Linux icon theme sizes; the .deb
  and the tarball's install.sh copy them to .../icons/hicolor/<N>x<N>/apps/);
- actor-trainer.ico (Windows: 16-256 px in one file; the .exe's icon and the installer's);
- actor-trainer.icns (macOS: 16-1024 px; the .app's icon).

Rendering: Qt's QSvgRenderer into a transparent QImage (offscreen platform, no display needed),
then Pillow packs the .ico and .icns from those exact renders (it writes both formats on every OS).
A stamp file records the source's SHA-256, so --check (and tests/core/test_packaging_recipes.py)
can tell a stale icon set without rendering.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ICON_DIR = ROOT / "resources" / "app-icon"
SOURCE = ICON_DIR / "actor-trainer.svg"
NAME = "actor-trainer"
#: hicolor theme sizes (freedesktop icon theme spec: 16-512, plus the common in-between ones).
SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
ICNS_SIZES = (16, 32, 64, 128, 256, 512, 1024)
STAMP = ICON_DIR / "icons.sha256"


def source_digest() -> str:
    return hashlib.sha256(SOURCE.read_bytes()).hexdigest()


def png_path(size: int) -> Path:
    return ICON_DIR / "hicolor" / f"{size}x{size}" / f"{NAME}.png"


def outputs() -> list[Path]:
    return [*(png_path(size) for size in SIZES), ICON_DIR / f"{NAME}.ico", ICON_DIR / f"{NAME}.icns", STAMP]


def render_png(size: int) -> bytes:
    """The source SVG rendered at size×size px, antialiased on a transparent background, as PNG bytes."""
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    _ = QGuiApplication.instance() or QGuiApplication([sys.argv[0]])
    renderer = QSvgRenderer(str(SOURCE))
    if not renderer.isValid():
        raise SystemExit(f"{SOURCE} is not a valid SVG")
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    renderer.render(painter)
    painter.end()
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    buffer.close()
    return bytes(data.data())


def write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def make() -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PIL import Image

    renders = {size: render_png(size) for size in sorted(set(SIZES) | set(ICO_SIZES) | set(ICNS_SIZES))}
    for size in SIZES:
        write_atomically(png_path(size), renders[size])
    images = {size: Image.open(io.BytesIO(data)).convert("RGBA") for size, data in renders.items()}
    for suffix, sizes in ((".ico", ICO_SIZES), (".icns", ICNS_SIZES)):
        largest = images[max(sizes)]
        others = [images[size] for size in sizes if size != max(sizes)]
        out = io.BytesIO()
        if suffix == ".ico":
            largest.save(out, format="ICO", sizes=[(s, s) for s in sizes], append_images=others)
        else:
            largest.save(out, format="ICNS", append_images=others)
        write_atomically(ICON_DIR / f"{NAME}{suffix}", out.getvalue())
    write_atomically(STAMP, f"{source_digest()}  {SOURCE.name}\n".encode())
    for path in outputs():
        print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size} bytes)")


def stale() -> list[str]:
    """What is missing or older than the source (by the stamp's digest); empty when all is current."""
    problems = [f"missing: {path.relative_to(ROOT)}" for path in outputs() if not path.is_file()]
    if STAMP.is_file() and STAMP.read_text(encoding="utf-8").split()[0] != source_digest():
        problems.append(f"{SOURCE.relative_to(ROOT)} changed since the icons were made")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check the icons are present and current")
    args = parser.parse_args(argv)
    if args.check:
        problems = stale()
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print("run: .venv/bin/python scripts/make_icons.py", file=sys.stderr)
        return 1 if problems else 0
    make()
    return 0


if __name__ == "__main__":
    sys.exit(main())
