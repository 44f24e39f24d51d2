"""What every command needs: the settings, the resolved configuration, the library."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from actor_trainer.commands.output import say
from actor_trainer.core.demo import ensure_library
from actor_trainer.core.library import Library
from actor_trainer.core.settings import Config, Secrets, Settings, resolve_config


@dataclass
class CommandContext:
    settings: Settings
    config: Config
    library: Library


def open_context(args: argparse.Namespace) -> CommandContext:
    settings = Settings.load()
    data_dir = Path(args.data_dir).expanduser() if getattr(args, "data_dir", None) else None
    config = resolve_config(settings, Secrets(), data_dir=data_dir)
    for warning in config.warnings:
        say(f"warning: {warning}")
    if ensure_library(config.data_dir, seed_from_demo=config.data_dir_is_default):
        say(f"Created your library at {config.data_dir} from the demo library.")
    return CommandContext(settings=settings, config=config, library=Library(config.data_dir))
