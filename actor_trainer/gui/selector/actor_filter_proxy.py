"""Search and filters over the actor list, evaluated on the model's precomputed plain lists.

`ActorFilterProxy` is a list model of the source rows that pass, not a QSortFilterProxyModel:
a QSortFilterProxyModel asks Python once per row per change (10,000 calls for one keystroke)
and then moves rows one span at a time. Here one keystroke is a few list comprehensions over
plain lists (narrowed from the rows shown when the new search only adds to the old one) and one
model reset; the view lays out uniform items in C++. The selector keeps its selection across
resets (actor_selector.py).
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QModelIndex, QObject, QPersistentModelIndex, QStringListModel, Qt

from actor_trainer.gui.selector.actor_list_model import ActorListModel, normalized_choice

_Index = QModelIndex | QPersistentModelIndex


@dataclass(frozen=True)
class ActorFilter:
    """What the selector shows. A field left at its default does not filter.

    `search`: whitespace-separated terms, all of which must occur (case-insensitive) in the name,
    the id ("0003" or "3") or the description. `sex`/`ethnicity`: compared casefolded. An age bound
    hides actors without an age.
    """

    search: str = ""
    sex: str | None = None
    ethnicity: str | None = None
    age_min: int | None = None
    age_max: int | None = None
    has_training_data: bool = False
    synced: bool = False
    validated: bool = False

    def terms(self) -> tuple[str, ...]:
        return tuple(self.search.casefold().split())

    def normalized(self) -> ActorFilter:
        """The same filter in comparison form (casefolded choices); equal filters select equal rows."""
        return dataclasses.replace(self, sex=normalized_choice(self.sex), ethnicity=normalized_choice(self.ethnicity))


def accepted_rows(src: ActorListModel, f: ActorFilter, candidates: Sequence[int] | None = None) -> list[int]:
    """The source rows `f` (normalized) accepts, in source order; only among `candidates` if given."""
    rows: Sequence[int] = range(len(src.ids)) if candidates is None else candidates
    texts = src.search_texts
    for term in f.terms():
        rows = [r for r in rows if term in texts[r]]
    if f.sex is not None:
        sexes, sex = src.sexes, f.sex
        rows = [r for r in rows if sexes[r] == sex]
    if f.ethnicity is not None:
        ethnicities, ethnicity = src.ethnicities, f.ethnicity
        rows = [r for r in rows if ethnicities[r] == ethnicity]
    if f.age_min is not None or f.age_max is not None:
        ages = src.ages
        low = f.age_min if f.age_min is not None else -1
        high = f.age_max if f.age_max is not None else 1 << 30
        rows = [r for r in rows if (age := ages[r]) is not None and low <= age <= high]
    if f.has_training_data:
        counts = src.image_counts
        rows = [r for r in rows if counts[r] > 0]
    if f.validated:
        validated = src.validated
        rows = [r for r in rows if validated[r]]
    if f.synced:
        ids, state = src.ids, src.sync_state
        rows = [r for r in rows if state(ids[r]) == "synced"]
    return rows if isinstance(rows, list) else list(rows)


def narrows(new: ActorFilter, old: ActorFilter) -> bool:
    """True when every row `new` accepts is also accepted by `old` (so `new` may be evaluated on
    `old`'s rows only): the other criteria are equal and each old term occurs in some new term."""
    if dataclasses.replace(new, search="") != dataclasses.replace(old, search=""):
        return False
    new_terms = new.terms()
    return all(any(o in n for n in new_terms) for o in old.terms())


class ActorFilterProxy(QStringListModel):
    """An `ActorFilter` applied to an `ActorListModel`: the accepted source rows, in id order.

    A QStringListModel of the shown actors' names, so that everything a view asks per row while
    laying out (rowCount, index: tens of thousands of calls for 10,000 rows) stays in C++; only
    `data()` is Python, and a view asks it for the cards it paints. Each filter change is one
    model reset (`setStringList`). Source changes are followed at once: inserted, removed or
    reset rows re-filter everything; a whole-row data change (no roles: a new summary, a sync
    state) re-checks those rows and resets only when what is shown changes; other data changes
    are forwarded for the rows shown.
    """

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._src: ActorListModel | None = None
        self._filter = ActorFilter()
        self._rows: list[int] = []  # accepted source rows, ascending
        self._shown_ids: list[int] = []  # their actor ids (what the view shows, even mid-change)
        self._next: tuple[list[int], list[int]] | None = None
        # First connection, so it runs before any view's or dialog's: during modelAboutToBeReset
        # everything still describes the old rows, during modelReset the new ones.
        self.modelReset.connect(self._take_next)

    def setSourceModel(self, model: Any) -> None:
        if not isinstance(model, ActorListModel):
            raise TypeError("ActorFilterProxy filters an ActorListModel")
        if self._src is not None:
            raise RuntimeError("ActorFilterProxy's source model is set once")
        self._src = model
        model.modelReset.connect(self._refilter)
        model.rowsInserted.connect(self._refilter)
        model.rowsRemoved.connect(self._refilter)
        model.dataChanged.connect(self._on_source_data_changed)
        self._show(accepted_rows(model, self._filter))

    def sourceModel(self) -> ActorListModel | None:
        return self._src

    # --- filter settings -------------------------------------------------------------------------

    def current_filter(self) -> ActorFilter:
        return self._filter

    def search_text(self) -> str:
        return self._filter.search

    def set_filter(self, new: ActorFilter) -> None:
        """Show the rows `new` accepts (no work when it selects the same rows as now)."""
        new = new.normalized()
        old = self._filter
        self._filter = new
        src = self._src
        if src is None:
            return
        if dataclasses.replace(new, search="") == dataclasses.replace(old, search="") and (new.terms() == old.terms()):
            return  # e.g. a trailing space typed: same rows
        rows = accepted_rows(src, new, self._rows if narrows(new, old) else None)
        if rows != self._rows:
            self._show(rows)

    def set_search_text(self, text: str) -> None:
        self.set_filter(dataclasses.replace(self._filter, search=text))

    def _show(self, rows: list[int]) -> None:
        src = self._src
        assert src is not None
        ids = src.ids
        names = src.names
        self._next = (rows, [ids[r] for r in rows])
        self.setStringList([names[r] for r in rows])  # one reset; _take_next swaps the rows in

    def _take_next(self) -> None:
        if self._next is not None:
            self._rows, self._shown_ids = self._next
            self._next = None

    # --- following the source --------------------------------------------------------------------

    def _refilter(self, *_args: Any) -> None:
        assert self._src is not None
        self._show(accepted_rows(self._src, self._filter))

    def _on_source_data_changed(self, top: QModelIndex, bottom: QModelIndex, roles: list[int]) -> None:
        src = self._src
        if src is None or not top.isValid() or not bottom.isValid():
            return
        first, last = top.row(), bottom.row()
        lo = bisect.bisect_left(self._rows, first)
        hi = bisect.bisect_right(self._rows, last)
        if not roles:
            if accepted_rows(src, self._filter, range(first, last + 1)) != self._rows[lo:hi]:
                self._refilter()
                return
            if lo < hi:  # names may have changed
                ids, names = src.ids, src.names
                for row in range(lo, hi):
                    self._shown_ids[row] = ids[self._rows[row]]
                    super().setData(self.index(row), names[self._rows[row]], Qt.ItemDataRole.EditRole)
        if lo < hi:
            self.dataChanged.emit(self.index(lo), self.index(hi - 1), roles)

    # --- Qt ----------------------------------------------------------------------------------

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        src = self._src
        if src is None or not index.isValid():
            return None
        row = index.row()
        if not 0 <= row < len(self._rows):
            return None
        return src.data(src.index(self._rows[row]), role)

    def setData(self, index: _Index, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:
        return False  # read-only: the rows are the filter's

    def flags(self, index: _Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemNeverHasChildren

    def roleNames(self) -> dict[int, Any]:
        return self._src.roleNames() if self._src is not None else super().roleNames()

    def mapToSource(self, index: _Index) -> QModelIndex:
        src = self._src
        if src is None or not index.isValid() or not 0 <= index.row() < len(self._rows):
            return QModelIndex()
        return src.index(self._rows[index.row()])

    def mapFromSource(self, index: _Index) -> QModelIndex:
        row = self._proxy_row_of_source(index.row()) if index.isValid() else None
        return QModelIndex() if row is None else self.index(row)

    def _proxy_row_of_source(self, source_row: int) -> int | None:
        at = bisect.bisect_left(self._rows, source_row)
        return at if at < len(self._rows) and self._rows[at] == source_row else None

    # --- lookups ---------------------------------------------------------------------------------

    def source_rows(self) -> list[int]:
        """The source rows shown, in order (a copy)."""
        return list(self._rows)

    def actor_id_at(self, row: int) -> int | None:
        """The actor id at a proxy row, or None."""
        return self._shown_ids[row] if 0 <= row < len(self._shown_ids) else None

    def shown_ids(self) -> list[int]:
        """The actor ids shown, in row order (the model's own list: do not change it)."""
        return self._shown_ids

    def actor_ids_between(self, first: int, last: int) -> list[int]:
        """The actor ids at proxy rows first..last (inclusive), as shown (valid even while the
        source is changing, before this model follows)."""
        return self._shown_ids[max(first, 0) : last + 1]

    def proxy_row_of(self, actor_id: int) -> int | None:
        """The proxy row showing an actor, or None when it is filtered out or absent."""
        ids = self._shown_ids  # ascending: the source is in id order
        at = bisect.bisect_left(ids, actor_id)
        return at if at < len(ids) and ids[at] == actor_id else None
