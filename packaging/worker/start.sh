#!/usr/bin/env bash
# The container's command: ComfyUI in the background (its own Python environment), then the RunPod
# handler in the foreground (its own venv). The handler waits for ComfyUI (COMFY_START_TIMEOUT) and
# fails the job with refresh_worker if it never answers; ComfyUI's log goes to the worker's log.
set -euo pipefail
cd /comfyui
python -u main.py --listen 127.0.0.1 --port 8188 --disable-auto-launch \
  --output-directory "${COMFY_OUTPUT_DIR:-/comfyui/output}" &
exec /worker/venv/bin/python -u /worker/handler.py
