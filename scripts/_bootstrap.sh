# Sourced by scripts/run and scripts/test: make sure .venv exists and matches pyproject.toml.
# Re-installs only when pyproject.toml changed since the last install (a stamp holds its hash).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
STAMP="$VENV/.installed-from"

find_python() {
  for candidate in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
      command -v "$candidate"; return 0
    fi
  done
  echo "Actor Trainer needs Python 3.11 or newer; none was found on PATH (set PYTHON=/path/to/python3.11)." >&2
  return 1
}

# pip, minus notes about package mirrors configured on this machine but absent, and minus
# setuptools' advisory block about editable installs ("be careful with folders named like the
# package": the checkout is the package, on purpose); errors still show.
quiet_pip() {
  local status=0
  "$VENV/bin/python" -m pip install --quiet "$@" 2>&1 | {
    awk '
      /Location .file:/ { next }
      /BuildBackendWarning: Editable installation\./ { skipping = 1; next }
      skipping && /with strategy, WheelFile/ { skipping = 0; next }
      skipping { next }
      { print }
    ' >&2 || true
  } || status=$?
  return "$status"
}

want="$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$STAMP" 2>/dev/null)" != "$want" ]; then
  if [ ! -x "$VENV/bin/python" ]; then
    py="$(find_python)"
    echo "Creating the virtual environment in .venv (using $py)…" >&2
    "$py" -m venv "$VENV"
  fi
  echo "Installing Actor Trainer and its dependencies into .venv…" >&2
  quiet_pip --upgrade pip || true
  quiet_pip -e "$ROOT[dev]" || { echo "Installing the dependencies failed (see above)." >&2; exit 1; }
  echo "$want" > "$STAMP"
fi
