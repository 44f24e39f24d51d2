"""What opening a library repaired or cleaned, in sentences the console and the CLI show.

`Library.__init__` finishes a good-mark change a crash interrupted (`Library.repaired`, one sentence
each) and deletes the temp files that killed writers left (`Library.removed_orphans`). Both happen
before any window or command output exists, so they are reported here, once, by whoever opened it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from actor_trainer.core.library import Library

#: how many removed file names a note lists before "and N more"
NAMES_SHOWN = 3


def opening_notes(library: Library) -> list[str]:
    """The repairs first, then one sentence for the removed temp files (none when nothing happened)."""
    notes = list(library.repaired)
    removed = library.removed_orphans
    if removed:
        names = ", ".join(p.name for p in removed[:NAMES_SHOWN])
        more = f" and {len(removed) - NAMES_SHOWN} more" if len(removed) > NAMES_SHOWN else ""
        notes.append(
            f"Removed {len(removed)} temporary file(s) that an interrupted write left in the library "
            f"({names}{more}); the files they were meant to replace are unchanged."
        )
    return notes
