#!/bin/sh
# Remove what install.sh installed for the current user: the program folder, the command link,
# the menu entry and the icons. Your library, settings and logs stay where they are
# (~/.local/share/actor-trainer, ~/.config/actor-trainer, ~/.local/state/actor-trainer).
set -eu

DATA_HOME=${XDG_DATA_HOME:-$HOME/.local/share}
DEST=$HOME/.local/opt/actor-trainer
LINK=$HOME/.local/bin/actor-trainer
ICONS=$DATA_HOME/icons/hicolor

# Only our link: a different actor-trainer on the PATH (a pip install, say) is left alone.
if [ -L "$LINK" ] && [ "$(readlink "$LINK")" = "$DEST/actor-trainer" ]; then
  rm -f "$LINK"
fi
rm -f "$DATA_HOME/applications/actor-trainer.desktop"
for icon in "$ICONS"/*/apps/actor-trainer.png "$ICONS"/scalable/apps/actor-trainer.svg; do
  [ -e "$icon" ] && rm -f "$icon"
done
rm -rf "$DEST"
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database -q "$DATA_HOME/applications" || true
command -v gtk-update-icon-cache >/dev/null 2>&1 && gtk-update-icon-cache -q -t "$ICONS" 2>/dev/null || true

echo "Removed Actor Trainer from $DEST."
echo "Kept your library and settings: ${XDG_DATA_HOME:-$HOME/.local/share}/actor-trainer, ${XDG_CONFIG_HOME:-$HOME/.config}/actor-trainer"
