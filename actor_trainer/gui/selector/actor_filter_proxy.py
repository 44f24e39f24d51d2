"""Search and filters over the actor list, evaluated on the model's precomputed plain lists."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QModelIndex, QObject, QPersistentModelIndex, QSortFilterProxyModel

from actor_trainer.gui.selector.actor_list_model import ActorListModel, normalized_choice

_Index = QModelIndex | QPersistentModelIndex
_HAS_FILTER_CHANGE = hasattr(QSortFilterProxyModel, "beginFilterChange")


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


class ActorFilterProxy(QSortFilterProxyModel):
    """An `ActorFilter` applied to an `ActorListModel`, rows in the source's id order.

    Each change re-filters once (`set_filter` changes several criteria in one pass).
    """

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._src: ActorListModel | None = None
        self._filter = ActorFilter()
        self._apply_criteria(self._filter)
        # Never sorted (the source is already in id order, and a sort would cost time per change);
        # dynamic so that a row whose data changes (e.g. its sync state) is re-filtered on its own.
        self.setDynamicSortFilter(True)

    def setSourceModel(self, model: Any) -> None:
        if not isinstance(model, ActorListModel):
            raise TypeError("ActorFilterProxy filters an ActorListModel")
        self._src = model
        super().setSourceModel(model)

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
        if dataclasses.replace(new, search="") == dataclasses.replace(old, search="") and (new.terms() == old.terms()):
            return  # e.g. a trailing space typed: same rows
        if _HAS_FILTER_CHANGE:
            # One re-filter per change; begin/end keeps the view's selection bookkeeping right.
            self.beginFilterChange()
            self._apply_criteria(new)
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:  # PySide6 < 6.9
            self._apply_criteria(new)
            self.invalidateFilter()

    def set_search_text(self, text: str) -> None:
        self.set_filter(dataclasses.replace(self._filter, search=text))

    def _apply_criteria(self, criteria: ActorFilter) -> None:
        # Plain attributes: filterAcceptsRow runs 10,000 times per change and reads only these.
        self._terms = criteria.terms()
        self._sex = criteria.sex
        self._ethnicity = criteria.ethnicity
        self._age_min = criteria.age_min
        self._age_max = criteria.age_max
        self._by_age = criteria.age_min is not None or criteria.age_max is not None
        self._needs_images = criteria.has_training_data
        self._needs_synced = criteria.synced
        self._needs_validated = criteria.validated

    # --- Qt ----------------------------------------------------------------------------------

    def filterAcceptsRow(self, source_row: int, source_parent: _Index) -> bool:
        src = self._src
        if src is None:
            return False
        if self._terms:
            text = src.search_texts[source_row]
            for term in self._terms:
                if term not in text:
                    return False
        if self._sex is not None and src.sexes[source_row] != self._sex:
            return False
        if self._ethnicity is not None and src.ethnicities[source_row] != self._ethnicity:
            return False
        if self._by_age:
            age = src.ages[source_row]
            if age is None:
                return False
            if self._age_min is not None and age < self._age_min:
                return False
            if self._age_max is not None and age > self._age_max:
                return False
        if self._needs_images and src.image_counts[source_row] <= 0:
            return False
        if self._needs_validated and not src.validated[source_row]:
            return False
        return not (self._needs_synced and src.sync_state(src.ids[source_row]) != "synced")

    def filterAcceptsColumn(self, source_column: int, source_parent: _Index) -> bool:
        return True

    # --- lookups ---------------------------------------------------------------------------------

    def actor_id_at(self, row: int) -> int | None:
        """The actor id at a proxy row, or None."""
        src = self._src
        if src is None or not 0 <= row < self.rowCount():
            return None
        return src.ids[self.mapToSource(self.index(row, 0)).row()]

    def proxy_row_of(self, actor_id: int) -> int | None:
        """The proxy row showing an actor, or None when it is filtered out or absent."""
        src = self._src
        if src is None:
            return None
        row = src.row_of(actor_id)
        if row is None:
            return None
        index = self.mapFromSource(src.index(row))
        return index.row() if index.isValid() else None
