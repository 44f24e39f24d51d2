"""Lock files in the library are ordinary files: never a link (issue 9, item 16).

Taking a file lock opens its path for writing and creates it: through a symbolic link that could
create or truncate whatever the link names. `refuse_linked_lock` is called before every lock of
the library is taken and turns a link into a sentence.
"""

from __future__ import annotations

from pathlib import Path

from actor_trainer.core.errors import LibraryError


def refuse_linked_lock(path: Path) -> None:
    """Raise `LibraryError` when the lock file at `path` is a symbolic link."""
    if path.is_symlink():
        raise LibraryError(
            f"The lock file {path} is a symbolic link; the app will not write through it.",
            "Delete the link (the lock file holds nothing) and try again.",
        )
