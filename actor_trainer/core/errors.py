"""Typed errors. Every error the user can meet carries what happened and what to do.

`message` says what happened in plain words; `hint` says what the user can do about it. The CLI
prints both; the GUI shows them in the place where the action was taken.
"""

from __future__ import annotations

from pathlib import Path

from actor_trainer.core.redact import redact


class ActorTrainerError(Exception):
    """Base of every error the application raises on purpose. Its texts are redacted of secrets
    (`core/redact.py`): they often carry what a server answered, and they are shown and stored."""

    def __init__(self, message: str, hint: str = "") -> None:
        message, hint = redact(message), redact(hint)
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} — {self.hint}" if self.hint else self.message


# --- library ------------------------------------------------------------------------------------


class LibraryError(ActorTrainerError):
    """Something is wrong with the data library on disk."""


class CorruptFileError(LibraryError):
    """A library file cannot be parsed or does not match its schema. It is never overwritten."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(
            f"{path}: {problem}",
            "The file was left untouched. Restore it from a backup or fix it by hand, then try again.",
        )
        self.path = path
        self.problem = problem


class ActorNotFoundError(LibraryError):
    def __init__(self, ref: str) -> None:
        super().__init__(
            f"No actor matches {ref!r}.",
            "Use an id (0, 0000) or an exact name; `actor-trainer actors` lists them.",
        )
        self.ref = ref


class VersionNotFoundError(LibraryError):
    def __init__(self, ref: str, actor_id: int | None = None) -> None:
        where = f" of actor {actor_id:04d}" if actor_id is not None else ""
        super().__init__(
            f"No training version{where} matches {ref!r}.",
            "`actor-trainer versions ACTOR` lists the versions and their ids.",
        )
        self.ref = ref
        self.actor_id = actor_id


class MarkGoodRefusedError(LibraryError):
    """A version cannot be marked good (not completed, or no LoRA URL)."""


class InvalidTransitionError(LibraryError):
    """A version state change that would move the version backwards."""


# --- configuration ------------------------------------------------------------------------------


class ConfigError(ActorTrainerError):
    """Settings are missing or inconsistent."""


class SecretStoreError(ConfigError):
    """The OS keyring is unavailable or refused the operation."""


# --- remote storage -----------------------------------------------------------------------------


class StorageError(ActorTrainerError):
    """The bucket (or the local stand-in folder) could not be read or written."""
