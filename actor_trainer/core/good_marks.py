"""The good mark: which version (or kept checkpoint) of an actor is its validated model.

Marking changes two files — the versions file (`isGood`, `goodCheckpointStep`) and actors.json
(`validated_lora_model`) — crash-safely through an intent file (`GOOD_MARK_INTENT`). `GoodMarks` is
a mixin of `Library` (split out of library.py, issue 8): it uses the library's lock, readers and
writers, declared below for the type checker only.
"""

from __future__ import annotations

import json
import logging
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from actor_trainer.core.atomic import atomic_write_json
from actor_trainer.core.errors import (
    ActorNotFoundError,
    ActorTrainerError,
    MarkGoodRefusedError,
    VersionNotFoundError,
)
from actor_trainer.core.models import (
    Actor,
    TrainingVersion,
    ValidatedLoraModel,
    VersionsFile,
    VersionStatus,
    utc_now,
)

GOOD_MARK_INTENT = ".good-mark-intent.json"  # a good-mark change in progress (see GoodMarks._run_intent)

log = logging.getLogger("actor_trainer.core.library")  # the library's logger, as before the split


class GoodMarks:
    """`Library.mark_good`, `unmark_good` and the repair of an interrupted change."""

    root: Path
    #: what opening the library repaired (an interrupted good-mark change), as sentences
    repaired: list[str]

    if TYPE_CHECKING:  # provided by Library

        def locked(self) -> AbstractContextManager[None]: ...
        def load_actors(self) -> list[Actor]: ...
        def _load_versions_file(self, actor_id: int) -> VersionsFile: ...
        def _write_versions(self, actor_id: int, versions_file: VersionsFile) -> None: ...
        def _write_actors(self, actors: list[Actor]) -> None: ...
        def versions_file(self, actor_id: int) -> Path: ...
        @property
        def actors_file(self) -> Path: ...

    def mark_good(
        self, actor_id: int, version_ref: str, checkpoint_step: int | None = None
    ) -> tuple[Actor, TrainingVersion]:
        """Record `version_ref` as the actor's validated model. Idempotent.

        With `checkpoint_step`, that kept checkpoint's LoRA is the validated file (the registry's
        `lora_url` and `checkpoint_step`, the version's `goodCheckpointStep`; issue 12).

        `isGood` becomes true on that version only; `validated_lora_model` is written to the actor
        in actors.json. Refused (nothing written) for a version that is not completed or has no
        LoRA URL. Crash-safe across its two files (`_run_intent`).
        """
        with self.locked():
            self.finish_interrupted()
            actors = self.load_actors()
            actor = next((a for a in actors if a.id == actor_id), None)
            if actor is None:
                raise ActorNotFoundError(str(actor_id))
            versions_file = self._load_versions_file(actor_id)
            target = next(
                (v for v in versions_file.versions if version_ref in (v.id, v.requestId) or v.name == version_ref),
                None,
            )
            if target is None:
                raise VersionNotFoundError(version_ref, actor_id)
            if target.status is not VersionStatus.COMPLETED:
                raise MarkGoodRefusedError(
                    f"{target.name} is {target.status.label}; only a completed version can be marked good.",
                    "Wait for the run to complete, or pick a completed version.",
                )
            if checkpoint_step is not None:
                checkpoint = next((c for c in target.checkpoints or [] if c.step == checkpoint_step), None)
                if checkpoint is None:
                    raise MarkGoodRefusedError(
                        f"{target.name} kept no checkpoint at step {checkpoint_step}.",
                        "Pick one of its kept checkpoints, or mark the final LoRA good.",
                    )
                lora_url: str | None = checkpoint.url
            else:
                lora_url = target.loraUrl
            if not lora_url:
                raise MarkGoodRefusedError(
                    f"{target.name} has no LoRA URL, so there is no model to validate.",
                    "Check its status again; if the worker stored no LoRA, train a new version.",
                )
            current = actor.validated_lora_model
            already = (
                target.isGood
                and target.goodCheckpointStep == checkpoint_step
                and all(not v.isGood for v in versions_file.versions if v is not target)
                and current is not None
                and current.version_id == target.id
                and current.lora_url == lora_url
            )
            if already:
                return actor, target
            extra = {"checkpoint_step": checkpoint_step} if checkpoint_step is not None else {}
            model = ValidatedLoraModel(
                version_id=target.id, version_name=target.name, lora_url=lora_url, marked_at=utc_now(), **extra
            )
            return self._run_intent(
                {
                    "op": "mark",
                    "actor_id": actor_id,
                    "version_id": target.id,
                    "model": model.to_json(),
                    "checkpoint_step": checkpoint_step,
                }
            )

    def unmark_good(self, actor_id: int, version_ref: str) -> tuple[Actor, TrainingVersion]:
        """Take the good mark off `version_ref`: `isGood` becomes false on it, and the actor's
        `validated_lora_model` is removed when it names this version. Idempotent (a version that is
        not marked good changes nothing). Crash-safe across its two files (`_run_intent`)."""
        with self.locked():
            self.finish_interrupted()
            actors = self.load_actors()
            actor = next((a for a in actors if a.id == actor_id), None)
            if actor is None:
                raise ActorNotFoundError(str(actor_id))
            versions_file = self._load_versions_file(actor_id)
            target = next(
                (v for v in versions_file.versions if version_ref in (v.id, v.requestId) or v.name == version_ref),
                None,
            )
            if target is None:
                raise VersionNotFoundError(version_ref, actor_id)
            current = actor.validated_lora_model
            names_target = current is not None and current.version_id in (target.id, target.requestId)
            if not target.isGood and not names_target:
                return actor, target
            return self._run_intent({"op": "unmark", "actor_id": actor_id, "version_id": target.id})

    # --- two files, one change: the good mark -----------------------------------------------------
    #
    # Marking a version good changes the versions file (isGood) and actors.json (validated_lora_model).
    # The change is written first as an intent (`GOOD_MARK_INTENT`, atomically), then applied to both
    # files, then the intent is removed. A crash between the writes leaves the intent behind; the
    # next `Library` opened on the folder (or the next mark) applies it again — applying is
    # idempotent — and reports it in `repaired` and the log.

    def _run_intent(self, intent: dict[str, Any]) -> tuple[Actor, TrainingVersion]:
        """Under the lock: record `intent`, apply it to both files, drop it."""
        path = self.root / GOOD_MARK_INTENT
        atomic_write_json(path, intent)
        result = self._apply_intent(intent)
        path.unlink(missing_ok=True)
        return result

    def _apply_intent(self, intent: dict[str, Any]) -> tuple[Actor, TrainingVersion]:
        actor_id, version_id = int(intent["actor_id"]), str(intent["version_id"])
        actors = self.load_actors()
        actor = next((a for a in actors if a.id == actor_id), None)
        if actor is None:
            raise ActorNotFoundError(str(actor_id))
        versions_file = self._load_versions_file(actor_id)
        target = next((v for v in versions_file.versions if v.id == version_id), None)
        if target is None:
            raise VersionNotFoundError(version_id, actor_id)
        if intent["op"] == "mark":
            step = intent.get("checkpoint_step")  # a checkpoint marked good (issue 12), else None

            def good_step(v: TrainingVersion) -> int | None:
                return step if v is target else None

            if any(v.isGood != (v is target) or v.goodCheckpointStep != good_step(v) for v in versions_file.versions):
                for version in versions_file.versions:
                    version.isGood = version is target
                    if version.goodCheckpointStep != good_step(version):
                        version.goodCheckpointStep = good_step(version)
                self._write_versions(actor_id, versions_file)
            model = ValidatedLoraModel.model_validate(intent["model"])
            if actor.validated_lora_model != model:
                actor.validated_lora_model = model
                self._write_actors(actors)
        else:
            if target.isGood or target.goodCheckpointStep is not None:
                target.isGood = False
                target.goodCheckpointStep = None
                self._write_versions(actor_id, versions_file)
            current = actor.validated_lora_model
            if current is not None and current.version_id in (target.id, target.requestId):
                actor.validated_lora_model = None
                self._write_actors(actors)
        return actor, target

    def finish_interrupted(self) -> list[str]:
        """Finish a good-mark change a crash interrupted (see above); returns what was repaired
        (also kept in `repaired` and logged). Nothing to do costs one stat."""
        path = self.root / GOOD_MARK_INTENT
        if not path.exists():
            return []
        with self.locked():
            try:
                intent = json.loads(path.read_bytes())
            except FileNotFoundError:  # another process finished it while we waited for the lock
                return []
            except ValueError:  # written atomically, so never half; but a hand edit could break it
                log.warning("%s cannot be read; removed (the good mark may need to be set again).", path)
                path.unlink(missing_ok=True)
                return []
            try:
                actor, version = self._apply_intent(intent)
            except ActorTrainerError as exc:
                log.warning("An interrupted good-mark change could not be finished: %s", exc)
                return []
            path.unlink(missing_ok=True)
        what = "marked good" if intent.get("op") == "mark" else "unmarked"
        note = (
            f"Finished an interrupted change: {version.name} of {actor.name} {what} in both "
            f"{self.versions_file(actor.id).name} and {self.actors_file.name}."
        )
        log.warning("%s", note)
        self.repaired.append(note)
        return [note]
