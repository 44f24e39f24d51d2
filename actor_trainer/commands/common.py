"""What every command needs: the settings, the resolved configuration, the library."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from actor_trainer.commands.output import say

if TYPE_CHECKING:
    from actor_trainer.core.library import Library
    from actor_trainer.core.settings import Config, Settings


@dataclass
class CommandContext:
    settings: Settings
    config: Config
    library: Library


def open_config(args: argparse.Namespace) -> tuple[Settings, Config]:
    """The settings and the resolved configuration (its warnings said), and the default library
    folder made if it is missing — everything `open_context` does but load the library code, so a
    command can send its first request before it imports that."""
    from actor_trainer.core.demo import ensure_library
    from actor_trainer.core.settings import Secrets, Settings, resolve_config

    settings = Settings.load()
    data_dir = Path(args.data_dir).expanduser() if getattr(args, "data_dir", None) else None
    config = resolve_config(settings, Secrets(), data_dir=data_dir)
    for warning in config.warnings:
        say(f"warning: {warning}")
    if ensure_library(config.data_dir, seed_from_demo=config.data_dir_is_default):
        say(f"Created your library at {config.data_dir} from the demo library.")
    return settings, config


def open_context(args: argparse.Namespace) -> CommandContext:
    settings, config = open_config(args)
    return CommandContext(settings=settings, config=config, library=open_library(config.data_dir))


def open_library(root: Path) -> Library:
    """The library, with what opening it repaired or cleaned said on stderr (core/library_notes.py)."""
    from actor_trainer.core.library import Library
    from actor_trainer.core.library_notes import opening_notes

    library = Library(root)
    for note in opening_notes(library):
        say(f"note: {note}")
    return library
