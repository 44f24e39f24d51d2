"""The training queue's panel: entries, reorder, pause/resume, remove, retry, and Add to queue."""
