"""The card audit spool: calls waiting for the database, kept on local disk so that none is lost.

A spool is a directory (``[storage] audit_spool_dir``, by default ``<data_dir>/audit-spool``) of
*segments*: files of JSON lines, one line per call (its ``issued_cards`` rows, the patient already
hashed: no patient id is ever written). Each process appends to its own current segment, seals it
when it is handed to the database writer, and deletes it once its rows are committed.

Ownership is a ``flock`` held on every segment a process owns, from its creation (under a hidden
temporary name, renamed once locked) to its deletion. The kernel drops the lock when the process
dies, however it dies (SIGKILL, the OOM killer), so a segment whose lock can be taken belongs to
nobody: any process of the instance *adopts* it and writes it (rows are idempotent by card uuid,
so a segment written twice is harmless). That is how a worker killed mid-interval, or a whole
instance stopped while the database was down, loses nothing: the next worker to start drains it.

Durability: a line is one ``write`` to an ``O_APPEND`` file, in the page cache as soon as the call
returns, so it survives the death of the process. A segment that the database did not take at the
first attempt is ``fsync``-ed, so a backlog built up during an outage survives a power cut too.

Not thread-safe by itself: :class:`cds_service.audit_buffer.BufferedAudit` serialises the calls.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

SUFFIX = ".jsonl"
_TMP_PREFIX = ".new-"


@dataclass(eq=False)
class Segment:
    """One spool file, locked by this process."""

    path: Path
    fd: int
    #: Complete lines (calls) in the file, and its size in bytes.
    calls: int = 0
    size: int = 0
    #: Lines already committed to the database (a partly written segment resumes after them).
    done: int = 0
    synced: bool = False
    #: time.monotonic() of the first line (None while empty).
    first_at: float | None = None
    #: Card uuids of the lines of this segment indexed for pending-card lookups (own segments only,
    #: and only while the index has room: see ``audit_buffer.PENDING_INDEX_MAX``).
    card_uuids: list[str] = field(default_factory=list)


class Spool:
    """The segments of one process in one spool directory (see the module docstring)."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.current: Segment | None = None
        self.sealed: list[Segment] = []

    # -- size --

    @property
    def calls(self) -> int:
        """Calls spooled and not yet committed (current and sealed segments)."""
        return sum(s.calls - s.done for s in self._segments())

    @property
    def size(self) -> int:
        return sum(s.size for s in self._segments())

    def _segments(self) -> list[Segment]:
        return self.sealed + ([self.current] if self.current is not None else [])

    # -- appending --

    def append(self, line: bytes, card_uuids: list[str]) -> None:
        """Append one call (a line without its newline). OSError when the disk refuses it."""
        segment = self.current or self._new_segment()
        data = line + b"\n"
        written = os.write(segment.fd, data)
        if written != len(data):  # a short write on a full disk: never leave half a line behind
            os.ftruncate(segment.fd, segment.size)
            raise OSError(f"short write to the audit spool ({written} of {len(data)} bytes)")
        segment.calls += 1
        segment.size += written
        segment.card_uuids.extend(card_uuids)
        if segment.first_at is None:
            segment.first_at = time.monotonic()

    def _new_segment(self) -> Segment:
        name = f"audit-{os.getpid()}-{time.time_ns()}-{secrets.token_hex(3)}"
        tmp = self.directory / f"{_TMP_PREFIX}{name}"
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # before the name can be seen by adopters
            path = self.directory / f"{name}{SUFFIX}"
            os.rename(tmp, path)
        except BaseException:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        self.current = Segment(path, fd)
        return self.current

    def seal(self) -> None:
        """Hand the current segment to the writer; the next append starts a new one."""
        if self.current is not None and self.current.calls:
            self.sealed.append(self.current)
            self.current = None

    # -- reading and removing --

    def lines(self, segment: Segment) -> tuple[list[bytes], int]:
        """The segment's lines after those already done, and how many trailing bytes were torn
        (a line without its newline: the process died inside a write, or the disk filled up)."""
        data = os.pread(segment.fd, segment.size, 0) if segment.size else b""
        whole, _, torn = data.rpartition(b"\n")
        lines = whole.split(b"\n") if whole else []
        return lines[segment.done:], len(torn)

    def sync(self, segment: Segment) -> None:
        if not segment.synced:
            os.fsync(segment.fd)
            segment.synced = True

    def remove(self, segment: Segment) -> None:
        """Delete a segment whose rows are all committed (unlink first, then drop the lock)."""
        with contextlib.suppress(FileNotFoundError):
            segment.path.unlink()
        os.close(segment.fd)
        if segment in self.sealed:
            self.sealed.remove(segment)
        if segment is self.current:
            self.current = None

    def release(self) -> None:
        """Let go of every segment without deleting it (shutdown with the database still down):
        the next process of this instance adopts them."""
        for segment in self._segments():
            with contextlib.suppress(OSError):
                os.close(segment.fd)
        self.current, self.sealed = None, []

    # -- orphans --

    def adopt_orphans(self) -> list[Segment]:
        """Take the segments no live process holds (their owner died, or stopped with the database
        down); returns them, now sealed segments of this process."""
        mine = {s.path for s in self._segments()}
        adopted: list[Segment] = []
        try:
            candidates = sorted(self.directory.glob(f"*{SUFFIX}"))
        except OSError:
            return adopted
        for path in candidates:
            if path in mine:
                continue
            try:
                fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CLOEXEC)
            except OSError:  # deleted meanwhile by its owner
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:  # a live process owns it
                os.close(fd)
                continue
            stat = os.fstat(fd)
            if stat.st_nlink == 0:  # its owner deleted it between our listing and our lock
                os.close(fd)
                continue
            segment = Segment(path, fd, size=stat.st_size, synced=True)
            segment.calls = len(self.lines(segment)[0])
            self.sealed.append(segment)
            if segment.size == 0:  # created, never written
                self.remove(segment)
                continue
            adopted.append(segment)
        return adopted

    def oldest_created(self, default: float) -> float:
        """When the oldest segment in the directory, any process's, was created (epoch seconds; the
        creation time is in its name); ``default`` when there is none."""
        oldest = default
        try:
            names = [p.name for p in self.directory.glob(f"audit-*{SUFFIX}")]
        except OSError:
            return oldest
        for name in names:
            try:
                created = int(name.split("-")[2]) / 1e9
            except (IndexError, ValueError):
                continue
            oldest = min(oldest, created)
        return oldest

    # -- temporary files of processes that died while creating a segment --

    def sweep_temporaries(self, older_than_s: float = 60.0) -> None:
        now = time.time()
        for path in self.directory.glob(f"{_TMP_PREFIX}*"):
            with contextlib.suppress(OSError):
                if now - path.stat().st_mtime > older_than_s:
                    path.unlink()
