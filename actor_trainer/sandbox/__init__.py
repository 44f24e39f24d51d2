"""A local RunPod-compatible endpoint and a simulated worker. Never imports Qt."""
