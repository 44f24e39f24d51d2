"""Headless commands (cli-and-config.md). None of them imports Qt."""
