"""Crash-safe files of a run folder: atomic writes, the manifest, JSONL parts, the oracle store.

Everything a stage produces is written to a temporary file in the same folder, flushed to disk
and renamed into place (``os.replace`` is atomic on POSIX), so after a kill at any instant a file
either exists complete or not at all; stray temporaries (``*.tmp-*``) are ignored and removed on
resume. The manifest (``RUN/manifest.json``) lists the completed stages and is rewritten the same
way *after* a stage's output is in place. The oracle store is an append-only JSONL log per process
whose torn last line (a kill mid-write) is dropped on load.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import numbers
import os
import shutil
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "AnswerLog",
    "Manifest",
    "atomic_write_bytes",
    "atomic_write_text",
    "read_jsonl",
    "remove_temporaries",
    "write_jsonl",
]

TMP_MARK = ".tmp-"


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not every filesystem allows opening a folder
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` so that a reader (or a crash) never sees a partial file."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}{TMP_MARK}{uuid.uuid4().hex[:8]}")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, target)
    _fsync_dir(target.parent)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """:func:`atomic_write_bytes` for UTF-8 text."""
    atomic_write_bytes(path, text.encode("utf-8"))


def write_jsonl(path: str | os.PathLike[str], rows: Iterable[Any]) -> None:
    """Atomically write one JSON document per line."""
    text = "".join(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n" for row in rows)
    atomic_write_text(path, text)


def read_jsonl(path: str | os.PathLike[str]) -> list[Any]:
    """Read a JSONL file written by :func:`write_jsonl`.

    Raises:
        ValueError: A line is not JSON (the file was not written by this module).
    """
    rows = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as error:
                    raise ValueError(f"{path}:{number} is not JSON: {error}") from error
    return rows


def remove_temporaries(folder: str | os.PathLike[str]) -> int:
    """Delete the leftovers of interrupted atomic writes under ``folder``; return how many."""
    count = 0
    root = Path(folder)
    if not root.exists():
        return 0
    for path in sorted(root.rglob(f"*{TMP_MARK}*"), reverse=True):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        count += 1
    return count


class Manifest:
    """``RUN/manifest.json``: which stages are complete, and facts about the run.

    Only the main process writes it (after the other processes have finished the stage).
    """

    FORMAT = 1

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.data: dict[str, Any] = {"format": self.FORMAT, "completed": {}, "facts": {}}
        if self.path.exists():
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if data.get("format") != self.FORMAT:
                raise ValueError(
                    f"{self.path} has manifest format {data.get('format')!r}; this ompo-train "
                    f"reads format {self.FORMAT}"
                )
            self.data = data

    def is_complete(self, stage: str) -> bool:
        """Return True if ``stage`` (e.g. ``"iteration_1/judge"``) has finished."""
        return stage in self.data["completed"]

    def stage_info(self, stage: str) -> dict[str, Any]:
        """Return what was recorded when ``stage`` completed (e.g. its seconds)."""
        return dict(self.data["completed"].get(stage, {}))

    def complete(self, stage: str, **info: Any) -> None:
        """Mark ``stage`` complete and write the manifest atomically."""
        self.data["completed"][stage] = info
        self.save()

    def set_fact(self, name: str, value: Any) -> None:
        """Record a fact about the run (e.g. the initial model folder) and save."""
        self.data["facts"][name] = value
        self.save()

    def fact(self, name: str, default: Any = None) -> Any:
        """Return a recorded fact."""
        return self.data["facts"].get(name, default)

    def save(self) -> None:
        """Write the manifest atomically."""
        atomic_write_text(self.path, json.dumps(self.data, indent=1, sort_keys=True) + "\n")


class AnswerLog:
    """A persistent store of oracle answers: ``key -> P``, one append-only JSONL log per process.

    Attach it with ``oracle.attach_store(log)``. Every process reads every log in ``folder`` on
    open (so answers from any process or earlier attempt count) and appends to its own
    ``answers-<rank>.jsonl``; each :meth:`put_many` is flushed and fsynced before returning. Keys
    are stored as SHA-256 digests of the oracle's cache key.
    """

    def __init__(self, folder: str | os.PathLike[str], rank: int = 0) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._answers: dict[str, float] = {}
        for log in sorted(self.folder.glob("answers-*.jsonl")):
            self._load(log)
        self.path = self.folder / f"answers-{rank}.jsonl"
        self._repair(self.path)
        self._handle = open(self.path, "a", encoding="utf-8")  # kept open: appended per batch
        self.hits = 0
        self.writes = 0
        #: Called with the number of answers after each durable :meth:`put_many` (a progress
        #: bar's ``update``), or None.
        self.on_put: Callable[[int], Any] | None = None

    def __deepcopy__(self, memo: dict[int, Any]) -> AnswerLog:
        return self  # one log per process: copies of an env or oracle share it

    @staticmethod
    def digest(key: str) -> str:
        """Return the stored form of a cache key."""
        return hashlib.sha256(key.encode("utf-8")).hexdigest()

    def _load(self, log: Path) -> None:
        with open(log, encoding="utf-8") as handle:
            for line in handle:
                if not line.endswith("\n"):
                    break  # torn last line of a killed write
                entry = json.loads(line)
                self._answers[entry["k"]] = float(entry["p"])

    @staticmethod
    def _repair(log: Path) -> None:
        """Cut a torn last line so that appends start on a fresh line."""
        if not log.exists():
            return
        data = log.read_bytes()
        if data and not data.endswith(b"\n"):
            with open(log, "r+b") as handle:
                handle.truncate(data.rfind(b"\n") + 1)

    def __len__(self) -> int:
        return len(self._answers)

    def __iter__(self) -> Iterator[str]:
        return iter(self._answers)

    def get(self, key: str) -> float | None:
        """Return the stored P for a cache key, or None."""
        value = self._answers.get(self.digest(key))
        if value is not None:
            self.hits += 1
        return value

    def put_many(self, items: list[tuple[str, float]]) -> None:
        """Append answers and make them durable before returning.

        All or nothing: every item is checked (a string key, a probability in [0, 1]) before any
        is kept, in memory or on disk.

        Raises:
            TypeError: A key that is not a string, or a value that is not a real number.
            ValueError: A value that is NaN or outside [0, 1].
        """
        checked = []
        for i, (key, value) in enumerate(items):
            if not isinstance(key, str):
                raise TypeError(f"items[{i}]: the key must be a str, got {type(key).__name__}")
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise TypeError(
                    f"items[{i}]: the answer must be a real number, got {type(value).__name__}"
                )
            if not 0.0 <= float(value) <= 1.0:  # also refuses NaN
                raise ValueError(
                    f"items[{i}]: the answer must be a probability in [0, 1], got {value!r}"
                )
            checked.append((self.digest(key), float(value)))
        self._handle.write("".join(json.dumps({"k": k, "p": p}) + "\n" for k, p in checked))
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._answers.update(checked)
        self.writes += len(checked)
        if self.on_put is not None:
            self.on_put(len(checked))

    def close(self) -> None:
        """Close the log file."""
        self._handle.close()
