"""What `Library.summaries` found in each actor's folders, remembered between runs (issue 13).

Counting the training data of 10,000 actors means listing 20,000 folders (the actor's, for its
poster and its training_data, and the training_data itself). The index remembers, per actor, what
those two listings gave and each folder's identity and times; on the next load a folder whose
identity and times are unchanged is not listed again. One `stat` per folder replaces a listing.

Where: in the per-user cache folder, one file per library (`cache_dir()/summaries/<digest>.index`),
like the MD5 and thumbnail caches; never in the library, which is shared with other tools and
may be read-only.

Why it stays correct when other tools change the library behind the app's back:

- A folder's key is (inode, mtime_ns, ctime_ns), taken *before* it is listed. Adding, removing or
  renaming an entry changes the folder's mtime and ctime; a folder replaced by another has a new
  inode; setting the mtime back (rsync -t, cp -p, tar) still moves the ctime, which no tool sets.
  A change made while we list shows in the next stat as a different key. (On Windows st_ctime
  is the creation time: there a restored mtime goes unseen until the folder changes again.)
- Racy folders are not remembered: a folder changed less than `RACY_NS` before the index is
  written could change again within the same timestamp tick, unseen (git's "racy clean" problem;
  some file systems keep seconds). It is listed again next time, until it has been quiet that long.
- Counts depend on whether a name is a file, which for a symbolic link depends on its target, not
  on the folder: a training_data folder holding links, or an actor whose training_data cannot be
  stat'ed, is never remembered. (Poster and training_data are found by name, as before.)
- The file is read as bytes and trusted only when everything checks: header, format, root, byte
  order, length, BLAKE2b digest of the body and the range of every value. Anything else means the
  file is ignored and rewritten; the worst case is listing every folder, as without an index. It
  is written to a temp file and moved into place; no fsync, since a file torn by a crash fails the
  digest and a stale one fails the keys.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import stat
import sys
import tempfile
import threading
import time
from array import array
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from actor_trainer.core.library_records import (
    POSTER_SUFFIXES,
    ActorSummary,
    _count_training_data,
    remove_stale_temp_files,
)
from actor_trainer.core.models import Actor
from actor_trainer.core.settings import cache_dir

log = logging.getLogger("actor_trainer.core.library")

POSTER_NAMES = tuple(f"poster{suffix}" for suffix in POSTER_SUFFIXES)
#: a folder changed more recently than this before the index is written is listed again next time
RACY_NS = 3_000_000_000
FORMAT = "actor-trainer summary index"
VERSION = 1
NO_TRAINING_DATA = -1  # in place of training_data's inode: the actor folder has no such name

#: one remembered actor: (folder inode, mtime_ns, ctime_ns, poster (index in POSTER_NAMES or -1),
#: training_data inode (or NO_TRAINING_DATA), mtime_ns, ctime_ns, images, paired captions, unsupported)
Entry = tuple[int, int, int, int, int, int, int, int, int, int]
_FIELDS = 11  # on disk: the actor id, then its Entry
_I63 = 1 << 63


def _s64(ino: int) -> int:
    """An inode number as a signed 64-bit value (some file systems use all 64 bits)."""
    return ino if ino < _I63 else ino - (1 << 64)


@dataclass(frozen=True)
class IndexUse:
    """What the last `summaries` call did: for tests, logs and the benchmark."""

    reused: int  # actors whose folders were not listed
    listed: int  # actors whose folders were listed (new, changed, racy, links, no folder)
    saved: bool  # the index file was (re)written
    ignored: str | None  # why the index file on disk was not used, when it was not


@dataclass(frozen=True)
class _Known:
    """The remembered actors as kept on disk: (actor id, *Entry) after one another, in id order,
    and where each actor's Entry starts. No tuple per actor: 10,000 of them cost more to make than
    the file costs to read."""

    values: array[int]
    where: dict[int, int]

    @classmethod
    def of(cls, rows: Mapping[int, Sequence[int]]) -> _Known:
        values: array[int] = array("q")
        where: dict[int, int] = {}
        for aid in sorted(rows):
            where[aid] = len(values) + 1
            values.append(aid)
            values.extend(rows[aid])
        return cls(values, where)


class SummaryIndex:
    """The remembered listings of one library's actor folders (thread-safe; blocking I/O)."""

    def __init__(
        self,
        path: Path | None,
        *,
        clock: Callable[[], int] = time.time_ns,
        racy_ns: int = RACY_NS,
    ) -> None:
        #: the index file (None: remembered in this process only)
        self.path = path
        self._clock = clock
        self._racy_ns = racy_ns
        self._lock = threading.Lock()
        self._known: _Known | None = None  # None: not read from `path` yet
        self._warned = False
        self.last: IndexUse | None = None

    @classmethod
    def for_library(cls, root: Path) -> SummaryIndex:
        """The index of the library at `root`, in the per-user cache folder."""
        digest = hashlib.sha256(os.path.realpath(root).encode("utf-8", "surrogateescape")).hexdigest()[:20]
        return cls(cache_dir() / "summaries" / f"{digest}.index")

    # --- the summaries ---------------------------------------------------------------------------

    def summaries(self, root: Path, actors: Sequence[Actor]) -> list[ActorSummary]:
        """Every actor of `actors` with its training-data counts and poster (`Library.summaries`)."""
        with self._lock:
            ignored: str | None = None
            if self._known is None:
                self._known, ignored = self._read(root)
            values, where = self._known.values, self._known.where
            sep = os.sep
            actors_dir = f"{os.fspath(root)}{sep}actors"
            stat_ = os.stat
            out: list[ActorSummary] = []
            kept: dict[int, int] = {}  # actor id → offset in `values`, for actors not listed
            fresh: dict[int, Entry] = {}
            for actor in actors:
                aid = actor.id
                folder = f"{actors_dir}{sep}{aid:04d}"
                try:
                    st: os.stat_result | None = stat_(folder)
                except OSError:
                    st = None  # listing says what it means (nothing, or the error as before)
                at = where.get(aid) if st is not None else None
                if (
                    at is not None
                    and st is not None
                    and st.st_mtime_ns == values[at + 1]
                    and st.st_ctime_ns == values[at + 2]
                    and _s64(st.st_ino) == values[at]
                    and (values[at + 4] == NO_TRAINING_DATA or _same(f"{folder}{sep}training_data", values, at, stat_))
                ):
                    kept[aid] = at
                    poster, images, captions, unsupported = (
                        values[at + 3],
                        values[at + 7],
                        values[at + 8],
                        values[at + 9],
                    )
                else:
                    poster, images, captions, unsupported, new = _list_actor(folder, st)
                    if new is not None:
                        fresh[aid] = new
                out.append(
                    ActorSummary(
                        actor,
                        images,
                        captions,
                        unsupported,
                        None if poster < 0 else f"{folder}{sep}{POSTER_NAMES[poster]}",
                    )
                )
            cutoff = self._clock() - self._racy_ns
            settled = {
                aid: new
                for aid, new in fresh.items()
                if max(new[1], new[2], new[5], new[6]) < cutoff and -_I63 <= min(new) and max(new) < _I63
            }
            saved = False
            if settled or len(kept) != len(where):  # something to add, or to drop
                rows: dict[int, Sequence[int]] = {aid: values[at : at + _FIELDS - 1] for aid, at in kept.items()}
                rows.update(settled)
                self._known = _Known.of(rows)
                saved = self._write(root, self._known)
            self.last = IndexUse(reused=len(kept), listed=len(actors) - len(kept), saved=saved, ignored=ignored)
            return out

    # --- the file ----------------------------------------------------------------------------------

    def _read(self, root: Path) -> tuple[_Known, str | None]:
        """The entries kept in `path`, or none and why (a missing file needs no reason)."""
        if self.path is None:
            return _Known.of({}), None
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return _Known.of({}), None
        except OSError as exc:
            return self._ignore(f"cannot be read ({exc.strerror or exc})")
        problem = _check(raw, os.path.realpath(root))
        if isinstance(problem, str):
            return self._ignore(problem)
        return problem, None

    def _ignore(self, why: str) -> tuple[_Known, str]:
        log.info("The summaries index %s is not used (%s); the actor folders are listed again.", self.path, why)
        return _Known.of({}), why

    def _write(self, root: Path, known: _Known) -> bool:
        if self.path is None:
            return False
        body = known.values.tobytes()
        header = {
            "format": FORMAT,
            "version": VERSION,
            "root": os.path.realpath(root),
            "byteorder": sys.byteorder,
            "count": len(known.where),
            "blake2b": hashlib.blake2b(body, digest_size=16).hexdigest(),
        }
        data = json.dumps(header, ensure_ascii=True).encode("ascii") + b"\n" + body
        try:
            _replace_file(self.path, data)
        except OSError as exc:
            if not self._warned:
                log.warning("The summaries index %s could not be written: %s", self.path, exc.strerror or exc)
                self._warned = True
            return False
        return True


def _same(path: str, values: array[int], at: int, stat_: Callable[[str], os.stat_result]) -> bool:
    """Whether the training_data folder at `path` still has the identity and times remembered at `at`."""
    try:
        st = stat_(path)
    except OSError:
        return False
    return st.st_mtime_ns == values[at + 5] and st.st_ctime_ns == values[at + 6] and _s64(st.st_ino) == values[at + 4]


def _list_actor(folder: str, st: os.stat_result | None) -> tuple[int, int, int, int, Entry | None]:
    """(poster, images, captions, unsupported, entry to remember or None) from listing the actor's
    folder and its training_data, as `scan_training_data` and `poster_path` classify them.
    `st` is the folder's stat, taken before the listing (None when it failed)."""
    try:
        names = set(os.listdir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return -1, 0, 0, 0, None  # no folder: a failed stat per load is all it costs
    poster = -1
    for code, name in enumerate(POSTER_NAMES):
        # Presence by name (no stat per actor): a folder called poster.png is not a case.
        if name in names:
            poster = code
            break
    remember = st is not None and stat.S_ISDIR(st.st_mode)
    images = captions = unsupported = 0
    td_key = (NO_TRAINING_DATA, 0, 0)
    if "training_data" in names:
        td = f"{folder}{os.sep}training_data"
        try:
            td_st = os.stat(td)  # before the listing, like the folder's
        except OSError:
            remember = False  # e.g. a link to nothing yet: its target may appear unseen
        else:
            td_key = (_s64(td_st.st_ino), td_st.st_mtime_ns, td_st.st_ctime_ns)
            remember = remember and td_key[0] != NO_TRAINING_DATA  # inode 2**64 - 1 would read as "none"
        images, captions, unsupported, links = _count_training_data(td)
        if links:
            remember = False  # a link's target may change without its folder changing
    if not remember or st is None:
        return poster, images, captions, unsupported, None
    entry: Entry = (
        _s64(st.st_ino),
        st.st_mtime_ns,
        st.st_ctime_ns,
        poster,
        *td_key,
        images,
        captions,
        unsupported,
    )
    return poster, images, captions, unsupported, entry


def _check(raw: bytes, real_root: str) -> _Known | str:
    """The entries of an index file's bytes, or what is wrong with them."""
    end = raw.find(b"\n")
    if end < 0:
        return "no header"
    try:
        header = json.loads(raw[:end].decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        return "the header is not JSON"
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        return "not a summaries index"
    if header.get("version") != VERSION:
        return f"format version {header.get('version')!r}, this app reads {VERSION}"
    if header.get("root") != real_root:
        return "made for another library folder"
    if header.get("byteorder") != sys.byteorder:
        return "made on a machine of another byte order"
    body = raw[end + 1 :]
    count = header.get("count")
    if not isinstance(count, int) or isinstance(count, bool) or count < 0 or len(body) != count * _FIELDS * 8:
        return "truncated or padded"
    if hashlib.blake2b(body, digest_size=16).hexdigest() != header.get("blake2b"):
        return "its content does not match its checksum"
    values = array("q")
    values.frombytes(body)
    ids, posters = values[0::_FIELDS], values[4::_FIELDS]
    if count and (min(ids) < 0 or max(ids) > 9999 or len(set(ids)) != count):
        return "an actor id is out of range or repeated"
    if count and (min(posters) < -1 or max(posters) >= len(POSTER_NAMES)):
        return "a poster is out of range"
    if count and min(min(values[8::_FIELDS]), min(values[9::_FIELDS]), min(values[10::_FIELDS])) < 0:
        return "a count is negative"
    for i, ino in enumerate(values[5::_FIELDS]):
        if ino == NO_TRAINING_DATA and any(values[i * _FIELDS + 6 : i * _FIELDS + _FIELDS]):
            return "counts without a training_data folder"
    return _Known(values, {aid: i * _FIELDS + 1 for i, aid in enumerate(ids)})


def _replace_file(path: Path, data: bytes) -> None:
    """Write `data` to a temp file beside `path` and move it over `path` (readers see one or the other)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temp_files(path.parent)  # a killed writer's, if any
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
