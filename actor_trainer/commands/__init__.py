"""Headless commands (README, "Headless use"; docs/configuration.md). None of them imports Qt."""
