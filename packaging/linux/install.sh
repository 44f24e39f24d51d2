#!/bin/sh
# Install Actor Trainer for the current user, from this unpacked folder (no root needed):
#   the program      -> ~/.local/opt/actor-trainer/        (replaced whole on an upgrade)
#   the command      -> ~/.local/bin/actor-trainer          (a link)
#   the menu entry   -> ~/.local/share/applications/actor-trainer.desktop
#   the icon         -> ~/.local/share/icons/hicolor/<size>/apps/actor-trainer.png (+ scalable SVG)
# Your library, settings and logs (~/.local/share/actor-trainer, ~/.config/actor-trainer,
# ~/.local/state/actor-trainer) are never touched, by this script or by uninstall.sh.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
DATA_HOME=${XDG_DATA_HOME:-$HOME/.local/share}
DEST=$HOME/.local/opt/actor-trainer
BIN_DIR=$HOME/.local/bin
APPS=$DATA_HOME/applications
ICONS=$DATA_HOME/icons/hicolor
RES=$HERE/_internal/resources

[ -x "$HERE/actor-trainer" ] || { echo "install.sh: run it from the unpacked actor-trainer folder" >&2; exit 1; }

if [ "$HERE" != "$DEST" ]; then
  mkdir -p "$HOME/.local/opt"
  staging=$HOME/.local/opt/.actor-trainer.installing
  rm -rf "$staging"
  cp -a "$HERE" "$staging"
  rm -rf "$DEST"
  mv "$staging" "$DEST"  # the new program appears whole
fi

mkdir -p "$BIN_DIR" "$APPS"
ln -sfn "$DEST/actor-trainer" "$BIN_DIR/actor-trainer"

# The menu entry runs the installed binary by its full path: ~/.local/bin may not be on the
# desktop session's PATH.
sed -e "s|^Exec=actor-trainer|Exec=\"$DEST/actor-trainer\"|" -e "/^TryExec=/d" \
  "$RES/linux/actor-trainer.desktop" > "$APPS/actor-trainer.desktop.tmp"
mv "$APPS/actor-trainer.desktop.tmp" "$APPS/actor-trainer.desktop"

for png in "$RES"/app-icon/hicolor/*/actor-trainer.png; do
  size=$(basename "$(dirname "$png")")
  mkdir -p "$ICONS/$size/apps"
  cp "$png" "$ICONS/$size/apps/actor-trainer.png"
done
mkdir -p "$ICONS/scalable/apps"
cp "$RES/app-icon/actor-trainer.svg" "$ICONS/scalable/apps/actor-trainer.svg"

command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database -q "$APPS" || true
command -v gtk-update-icon-cache >/dev/null 2>&1 && gtk-update-icon-cache -q -t "$ICONS" 2>/dev/null || true

echo "Installed Actor Trainer $("$DEST/actor-trainer" --version | cut -d' ' -f2) in $DEST"
echo "  menu entry: $APPS/actor-trainer.desktop"
echo "  command:    $BIN_DIR/actor-trainer"
case ":$PATH:" in
  *":$BIN_DIR:"*) ;;
  *) echo "  note: $BIN_DIR is not on your PATH; start it from the menu, or add it to PATH." ;;
esac

# The OS libraries any Qt app needs on Linux (graphics, fonts, keyboard, X11/xcb) come from the
# system. Say which are missing, if any, and how to get them.
missing=$(LD_LIBRARY_PATH="$DEST/_internal" ldd "$DEST/_internal/PySide6/Qt/plugins/platforms/libqxcb.so" \
  "$DEST/_internal/PySide6/Qt/lib/libQt6Gui.so.6" 2>/dev/null | awk '/not found/ {print $1}' | sort -u | tr '\n' ' ')
if [ -n "$missing" ]; then
  echo "  warning: these system libraries are missing: $missing" >&2
  echo "  on Debian/Ubuntu: sudo apt-get install libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 \\" >&2
  echo "    fonts-dejavu-core libglib2.0-0 libdbus-1-3 libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 \\" >&2
  echo "    libxcb-randr0 libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-xkb1 libx11-xcb1" >&2
fi
