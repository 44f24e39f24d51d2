"""The actor list behind the selector: one Qt item model for the whole library.

The model is built once (owned by the main window) and kept up to date by services through
`set_summaries`, `update_summary`, `set_sync_state` and `set_training`; every view that shows
actors shares it. Filtering 10,000 rows per keystroke stays fast because everything the filter
reads is precomputed into plain Python lists indexed by source row: the proxy
(`actor_filter_proxy.ActorFilterProxy`) never calls `data()` and never builds a string while filtering.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from enum import IntEnum
from pathlib import Path
from typing import Any, Protocol

from PySide6.QtCore import (
    QAbstractListModel,
    QByteArray,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
)

from actor_trainer.core.models import Actor
from actor_trainer.gui.i18n import tr

#: The sync states a service may report for an actor (None: not known yet / not checked).
SYNC_STATES = ("synced", "not_synced", "unknown")

_Index = QModelIndex | QPersistentModelIndex


class ActorSummaryLike(Protocol):
    """What the model reads of `core.library.ActorSummary` (any object with these fields)."""

    @property
    def actor(self) -> Actor: ...
    @property
    def image_count(self) -> int: ...
    @property
    def caption_count(self) -> int: ...
    @property
    def unsupported_count(self) -> int: ...
    @property
    def poster(self) -> Path | None: ...


class ActorRoles(IntEnum):
    """Custom item data roles of `ActorListModel`."""

    ActorRole = Qt.ItemDataRole.UserRole + 1  # core.models.Actor
    SummaryRole = Qt.ItemDataRole.UserRole + 2  # the ActorSummary as given
    IdRole = Qt.ItemDataRole.UserRole + 3  # int
    NameRole = Qt.ItemDataRole.UserRole + 4  # str
    SearchTextRole = Qt.ItemDataRole.UserRole + 5  # lowercase "name\n0003 3\ndescription"
    ImageCountRole = Qt.ItemDataRole.UserRole + 6  # int
    CaptionCountRole = Qt.ItemDataRole.UserRole + 7  # int
    UnsupportedCountRole = Qt.ItemDataRole.UserRole + 8  # int
    SyncStateRole = Qt.ItemDataRole.UserRole + 9  # "synced" | "not_synced" | "unknown" | None
    ValidatedRole = Qt.ItemDataRole.UserRole + 10  # bool: has a validated ("good") LoRA
    TrainingRole = Qt.ItemDataRole.UserRole + 11  # bool: a run is in flight
    PosterPathRole = Qt.ItemDataRole.UserRole + 12  # str path, or None
    MetaLineRole = Qt.ItemDataRole.UserRole + 13  # "age • sex • ethnicity"
    InitialsRole = Qt.ItemDataRole.UserRole + 14  # "AS", for the placeholder poster
    IdTextRole = Qt.ItemDataRole.UserRole + 15  # "0003"
    #: everything a poster card shows, in one call (poster_delegate.py):
    #: (id, name, meta line, id text, initials, validated, image count, sync state, training, poster path)
    CardRole = Qt.ItemDataRole.UserRole + 16


def search_text_for(actor: Actor) -> str:
    """The text the search box matches against: name, both id spellings and description.

    Fields are joined by newlines so a search term never matches across two fields.
    """
    parts = [actor.name, f"{actor.id:04d} {actor.id}"]
    if actor.description:
        parts.append(actor.description)
    return "\n".join(parts).casefold()


def _poster_text(summary: ActorSummaryLike) -> str | None:
    """The poster's path as text, without making a Path (core's ActorSummary has it as text)."""
    text = getattr(summary, "poster_file", None)
    if text is not None:
        return str(text)
    poster = summary.poster
    return str(poster) if poster is not None else None


def initials_for(name: str) -> str:
    """Up to two initials for a placeholder poster ("Anna Smith" → "AS", "0000_european_16_male" → "EM")."""
    words = [w for w in name.replace("_", " ").replace("-", " ").split() if w]
    letters = [w[0] for w in words if not w.isdigit()]
    if not letters:
        letters = [w[0] for w in words]
    if len(letters) > 2:
        letters = [letters[0], letters[-1]]
    return "".join(letters).upper() or "?"


def normalized_choice(value: str | None) -> str | None:
    """The comparison key of a sex/ethnicity value (casefolded, stripped; None when blank)."""
    if value is None:
        return None
    value = value.strip()
    return value.casefold() if value else None


class ActorListModel(QAbstractListModel):
    """One row per actor, ordered by actor id.

    Rows are kept sorted by id here (not by the proxy), so a filter change never re-sorts.
    Sync and training state are kept by actor id, so they may be reported before the actor's
    summary arrives and survive `set_summaries`.
    """

    def __init__(self, summaries: Iterable[ActorSummaryLike] = (), parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._sync: dict[int, str | None] = {}
        self._training: set[int] = set()
        self._clear_columns()
        self._fill(summaries)

    # --- columns: plain lists indexed by row, read by the filter proxy -------------------------

    def _clear_columns(self) -> None:
        self._summaries: list[ActorSummaryLike] = []
        self.ids: list[int] = []
        self.names: list[str] = []
        self.search_texts: list[str] = []
        self.sexes: list[str | None] = []  # casefolded
        self.ethnicities: list[str | None] = []  # casefolded
        self.ages: list[int | None] = []
        self.image_counts: list[int] = []
        self.validated: list[bool] = []
        self._meta_lines: list[str] = []
        self._initials: list[str] = []
        self._posters: list[str | None] = []
        self._row_of: dict[int, int] = {}
        self._rows_of_poster: dict[str, list[int]] = {}

    def _columns(self) -> tuple[list[Any], ...]:
        return (
            self._summaries,
            self.ids,
            self.names,
            self.search_texts,
            self.sexes,
            self.ethnicities,
            self.ages,
            self.image_counts,
            self.validated,
            self._meta_lines,
            self._initials,
            self._posters,
        )

    @staticmethod
    def _row_values(summary: ActorSummaryLike) -> tuple[Any, ...]:
        actor = summary.actor
        return (
            summary,
            actor.id,
            actor.name,
            search_text_for(actor),
            normalized_choice(actor.sex),
            normalized_choice(actor.ethnicity),
            actor.age,
            summary.image_count,
            actor.validated_lora_model is not None,
            actor.meta_line,
            initials_for(actor.name),
            _poster_text(summary),
        )

    def _fill(self, summaries: Iterable[ActorSummaryLike]) -> None:
        by_id = {s.actor.id: s for s in summaries}  # a later duplicate replaces an earlier one
        ordered = [by_id[i] for i in sorted(by_id)]
        columns = self._columns()
        for summary in ordered:
            for column, value in zip(columns, self._row_values(summary), strict=True):
                column.append(value)
        self._reindex()

    def _reindex(self) -> None:
        self._row_of = {actor_id: row for row, actor_id in enumerate(self.ids)}
        self._rows_of_poster = {}
        for row, poster in enumerate(self._posters):
            if poster is not None:
                self._rows_of_poster.setdefault(poster, []).append(row)

    # --- updates from services -------------------------------------------------------------------

    def set_summaries(self, summaries: Iterable[ActorSummaryLike]) -> None:
        """Replace every row (a library was (re)loaded)."""
        self.beginResetModel()
        self._clear_columns()
        self._fill(summaries)
        self.endResetModel()

    def update_summary(self, summary: ActorSummaryLike) -> None:
        """Replace one actor's row, or insert it at its id position if it is new."""
        actor_id = summary.actor.id
        values = self._row_values(summary)
        row = self._row_of.get(actor_id)
        if row is not None:
            for column, value in zip(self._columns(), values, strict=True):
                column[row] = value
            self._reindex()
            index = self.index(row)
            self.dataChanged.emit(index, index, [])
            return
        row = bisect.bisect_left(self.ids, actor_id)
        self.beginInsertRows(QModelIndex(), row, row)
        for column, value in zip(self._columns(), values, strict=True):
            column.insert(row, value)
        self._reindex()
        self.endInsertRows()

    def remove_actor(self, actor_id: int) -> None:
        """Remove an actor's row (no-op when the actor is not in the model)."""
        row = self._row_of.get(actor_id)
        if row is None:
            return
        self.beginRemoveRows(QModelIndex(), row, row)
        for column in self._columns():
            del column[row]
        self._reindex()
        self.endRemoveRows()

    def set_sync_state(self, actor_id: int, state: str | None) -> None:
        """Record whether an actor's training data matches the bucket ("synced", "not_synced",
        "unknown", or None when not checked)."""
        if state is not None and state not in SYNC_STATES:
            raise ValueError(f"unknown sync state {state!r}; expected one of {SYNC_STATES} or None")
        if self._sync.get(actor_id) == state:
            return
        self._sync[actor_id] = state
        # No role list: the proxy re-filters a row only for "all roles" or its filter role, and the
        # "synced" filter depends on this one.
        self._emit_row_changed(actor_id, None)

    def set_sync_states(self, states: Mapping[int, str | None]) -> None:
        """Record many sync states at once (one change signal for the span of rows that changed)."""
        for state in states.values():
            if state is not None and state not in SYNC_STATES:
                raise ValueError(f"unknown sync state {state!r}; expected one of {SYNC_STATES} or None")
        rows = []
        for actor_id, state in states.items():
            if self._sync.get(actor_id) != state:
                self._sync[actor_id] = state
                row = self._row_of.get(actor_id)
                if row is not None:
                    rows.append(row)
        if rows:
            self.dataChanged.emit(self.index(min(rows)), self.index(max(rows)), [])

    def set_training(self, actor_id: int, in_flight: bool) -> None:
        """Record whether the actor has a training run in flight."""
        if (actor_id in self._training) == in_flight:
            return
        if in_flight:
            self._training.add(actor_id)
        else:
            self._training.discard(actor_id)
        self._emit_row_changed(actor_id, ActorRoles.TrainingRole)

    def notify_poster_loaded(self, path: str) -> None:
        """A poster thumbnail became available: repaint the rows that show it."""
        rows = self._rows_of_poster.get(str(path))
        if not rows:
            return
        roles = [ActorRoles.PosterPathRole, Qt.ItemDataRole.DecorationRole]
        if len(rows) == 1:
            index = self.index(rows[0])
            self.dataChanged.emit(index, index, roles)
        else:
            # Many actors may share one poster file: one signal for the span, not one per row.
            self.dataChanged.emit(self.index(rows[0]), self.index(rows[-1]), roles)

    def _emit_row_changed(self, actor_id: int, role: int | None) -> None:
        row = self._row_of.get(actor_id)
        if row is not None:
            index = self.index(row)
            self.dataChanged.emit(index, index, [] if role is None else [role])

    # --- lookups ---------------------------------------------------------------------------------

    def sync_state(self, actor_id: int) -> str | None:
        return self._sync.get(actor_id)

    def is_training(self, actor_id: int) -> bool:
        return actor_id in self._training

    def row_of(self, actor_id: int) -> int | None:
        """The row of an actor, or None."""
        return self._row_of.get(actor_id)

    def summary_at(self, row: int) -> ActorSummaryLike:
        return self._summaries[row]

    def distinct_values(self, field: str) -> list[tuple[str, str]]:
        """(key, label) pairs of the values present for "sex" or "ethnicity", sorted by label.

        Keys are casefolded (what the proxy compares); labels are the first spelling seen.
        """
        if field not in ("sex", "ethnicity"):
            raise ValueError(f"no choices for field {field!r}")
        labels: dict[str, str] = {}
        for summary in self._summaries:
            raw = getattr(summary.actor, field)
            key = normalized_choice(raw)
            if key is not None and key not in labels:
                labels[key] = raw.strip()
        return sorted(labels.items(), key=lambda kv: kv[1].casefold())

    # --- Qt model interface ----------------------------------------------------------------------

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 (Qt's signature)
        return 0 if parent.isValid() else len(self.ids)

    def roleNames(self) -> dict[int, QByteArray]:
        names = dict(super().roleNames())
        for role in ActorRoles:
            names[int(role)] = QByteArray((role.name[0].lower() + role.name[1:]).encode())
        return names

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = index.row()
        if not 0 <= row < len(self.ids):
            return None
        actor_id = self.ids[row]
        if role == ActorRoles.CardRole:
            return (
                actor_id,
                self.names[row],
                self._meta_lines[row],
                f"{actor_id:04d}",
                self._initials[row],
                self.validated[row],
                self.image_counts[row],
                self._sync.get(actor_id),
                actor_id in self._training,
                self._posters[row],
            )
        if role == Qt.ItemDataRole.DisplayRole or role == ActorRoles.NameRole:
            return self.names[row]
        if role == ActorRoles.IdRole:
            return actor_id
        if role == ActorRoles.IdTextRole:
            return f"{actor_id:04d}"
        if role == ActorRoles.ImageCountRole:
            return self.image_counts[row]
        if role == ActorRoles.SyncStateRole:
            return self._sync.get(actor_id)
        if role == ActorRoles.ValidatedRole:
            return self.validated[row]
        if role == ActorRoles.TrainingRole:
            return actor_id in self._training
        if role == ActorRoles.PosterPathRole:
            return self._posters[row]
        if role == ActorRoles.MetaLineRole:
            return self._meta_lines[row]
        if role == ActorRoles.InitialsRole:
            return self._initials[row]
        if role == ActorRoles.ActorRole:
            return self._summaries[row].actor
        if role == ActorRoles.SummaryRole:
            return self._summaries[row]
        if role == ActorRoles.SearchTextRole:
            return self.search_texts[row]
        if role == ActorRoles.CaptionCountRole:
            return self._summaries[row].caption_count
        if role == ActorRoles.UnsupportedCountRole:
            return self._summaries[row].unsupported_count
        if role == Qt.ItemDataRole.ToolTipRole:
            actor = self._summaries[row].actor
            return f"{actor.name}\n{actor.description}" if actor.description else actor.name
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return self._accessible_text(row)
        return None

    def _accessible_text(self, row: int) -> str:
        actor_id = self.ids[row]
        parts = [self._summaries[row].actor.name, f"{actor_id:04d}"]
        if self._meta_lines[row]:
            parts.append(self._meta_lines[row])
        count = self.image_counts[row]
        parts.append(tr("{n} training images").format(n=count) if count else tr("no training images"))
        if self.validated[row]:
            parts.append(tr("validated model"))
        sync = self._sync.get(actor_id)
        if sync == "synced":
            parts.append(tr("synced"))
        elif sync == "not_synced":
            parts.append(tr("not synced"))
        if actor_id in self._training:
            parts.append(tr("training"))
        return ", ".join(parts)
