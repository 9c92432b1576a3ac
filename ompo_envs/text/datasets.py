"""The text datasets shipped inside the package (MT-Bench-101, GSM8K, MATH test, MATH500).

Files live under ``ompo_envs/data/`` as gzip-compressed JSON lines (see each folder's ``SOURCE.md``
for provenance and licence). Loaders validate every row and name the file and line of the first bad
one; results are cached, immutable tuples of frozen dataclasses, so envs can share them.

Training and evaluation data: GSM8K ships both splits (:func:`load_gsm8k`); MATH ships its test
set (:func:`load_math`) and MATH500 (:func:`load_math500`), and :func:`load_math_train` is the
test set minus MATH500, the part PRM800K trains on, computed here by matching problem texts
(:func:`normalize_problem`).
"""

from __future__ import annotations

import gzip
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache, partial
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from ompo_envs.text.answers import gsm8k_reference_answer, last_boxed

__all__ = [
    "GSM8K_SPLITS",
    "MT_BENCH_101_SKIP_FIRST_TASKS",
    "MT_BENCH_101_TASKS",
    "DatasetError",
    "Dialogue",
    "MathProblem",
    "Turn",
    "check_split",
    "data_path",
    "exclude_problems",
    "load_gsm8k",
    "load_math",
    "load_math500",
    "load_math_train",
    "load_mt_bench_101",
    "normalize_problem",
    "read_jsonl",
]

RowT = TypeVar("RowT")

#: The 13 MT-Bench-101 task codes, in the paper's order (Perceptivity, Adaptability, Interactivity).
MT_BENCH_101_TASKS: tuple[str, ...] = (
    "CM", "SI", "AR", "TS", "CC", "CR", "FR", "SC", "SA", "MR", "GR", "IC", "PI",
)  # fmt: skip
#: Tasks whose first turn the official MT-Bench-101 scorer does not judge (``skip_first_tasks``).
MT_BENCH_101_SKIP_FIRST_TASKS: frozenset[str] = frozenset({"FR", "CR", "AR", "SA", "SC", "CM"})
#: The GSM8K splits shipped under ``ompo_envs/data/gsm8k/`` (7,473 and 1,319 problems).
GSM8K_SPLITS: tuple[str, ...] = ("train", "test")


class DatasetError(ValueError):
    """A dataset file is missing or has a malformed row (the message names the file and line)."""


@dataclass(frozen=True)
class Turn:
    """One MT-Bench-101 turn: the user's message and the dataset's reference ("golden") reply."""

    user: str
    bot: str


@dataclass(frozen=True)
class Dialogue:
    """One MT-Bench-101 dialogue.

    Attributes:
        id: The dataset's dialogue id (1..1388, called ``multi_id`` upstream).
        task: Task code, one of :data:`MT_BENCH_101_TASKS`.
        turns: The dialogue's turns, in order; H = ``len(turns)``.
    """

    id: int
    task: str
    turns: tuple[Turn, ...]

    @property
    def scored_turns(self) -> tuple[bool, ...]:
        """Whether the official scorer judges each turn (it skips the first turn of some tasks)."""
        skip_first = self.task in MT_BENCH_101_SKIP_FIRST_TASKS
        return tuple(not (skip_first and i == 0) for i in range(len(self.turns)))


@dataclass(frozen=True)
class MathProblem:
    r"""One math word problem with its reference solution and gold final answer.

    Attributes:
        index: 0-based position in its file (the ``problem_index`` reset option).
        problem_id: The dataset's own id (GSM8K: ``"<split>/<index>"``, e.g. ``"test/0"``; MATH:
            ``idx``; MATH500: ``unique_id``), as a string.
        problem: The problem statement (x_1).
        solution: The reference step-by-step solution.
        answer: The gold final answer (GSM8K: after ``####``; MATH: the solution's last ``\boxed``;
            MATH500: the ``answer`` field).
        subject: Subject (MATH) or ``""`` (GSM8K).
        level: Difficulty 1..5 (MATH) or 0 (GSM8K).
    """

    index: int
    problem_id: str
    problem: str
    solution: str
    answer: str
    subject: str = ""
    level: int = 0


def check_split(split: object, allowed: Sequence[str], dataset: str) -> str:
    """Return ``split`` if it is one of ``allowed``.

    Raises:
        ValueError: ``split`` is not one of ``allowed``; the message names the allowed values.
    """
    if not isinstance(split, str) or split not in allowed:
        names = " or ".join(repr(name) for name in allowed)
        raise ValueError(f"{dataset} has no split {split!r}: expected split={names}")
    return split


def normalize_problem(text: str) -> str:
    """Return a problem text whitespace-collapsed and case-folded, the key for comparing sets."""
    return " ".join(text.split()).casefold()


def data_path(*parts: str) -> Path:
    """Return the path of a file shipped under ``ompo_envs/data/``."""
    return Path(str(resources.files("ompo_envs").joinpath("data", *parts)))


def read_jsonl(path: Path | str, parse: Callable[[Mapping[str, Any], int], RowT]) -> list[RowT]:
    """Read a (possibly gzip-compressed) JSON-lines file and parse each row with ``parse``.

    Args:
        path: The file; a name ending in ``.gz`` is decompressed.
        parse: ``parse(row, index)`` returns the parsed row or raises ``ValueError``/``TypeError``/
            ``KeyError`` with a message saying what is wrong.

    Raises:
        DatasetError: The file is missing, or a line is not a JSON object or fails ``parse``; the
            message names the file and the 1-based line number.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(
            f"dataset file {path} is missing; reinstall ompo-envs (the data ships in the wheel)"
        )
    rows: list[RowT] = []
    for line_number, line in _lines(path):
        where = f"{path}, line {line_number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise DatasetError(f"{where}: not valid JSON ({error.msg})") from error
        if not isinstance(row, dict):
            raise DatasetError(f"{where}: expected a JSON object, got {type(row).__name__}")
        try:
            rows.append(parse(row, len(rows)))
        except KeyError as error:
            raise DatasetError(f"{where}: missing field {error.args[0]!r}") from error
        except (TypeError, ValueError) as error:
            raise DatasetError(f"{where}: {error}") from error
    if not rows:
        raise DatasetError(f"{path} has no rows")
    return rows


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                yield number, line


def _string(row: Mapping[str, Any], key: str) -> str:
    value = row[key]
    if not isinstance(value, str):
        raise TypeError(f"field {key!r} must be a string, got {type(value).__name__}")
    return value


def _integer(row: Mapping[str, Any], key: str) -> int:
    value = row[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"field {key!r} must be an integer, got {value!r}")
    return value


# ---------------------------------------------------------------------------- MT-Bench-101
def parse_dialogue(row: Mapping[str, Any], index: int) -> Dialogue:
    """Parse one MT-Bench-101 row ``{"task", "id", "history": [{"user", "bot"}, ...]}``."""
    task = _string(row, "task")
    if task not in MT_BENCH_101_TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {MT_BENCH_101_TASKS}")
    history = row["history"]
    if not isinstance(history, list) or not history:
        raise ValueError("field 'history' must be a non-empty list of {'user', 'bot'} turns")
    turns = []
    for i, turn in enumerate(history):
        if not isinstance(turn, dict):
            raise TypeError(f"history[{i}] must be an object, got {type(turn).__name__}")
        try:
            turns.append(Turn(user=_string(turn, "user"), bot=_string(turn, "bot")))
        except KeyError as error:
            raise ValueError(f"history[{i}] is missing field {error.args[0]!r}") from error
    return Dialogue(id=_integer(row, "id"), task=task, turns=tuple(turns))


def read_mt_bench_101(path: Path | str) -> tuple[Dialogue, ...]:
    """Read and validate an MT-Bench-101 file (dialogue ids must be unique)."""
    dialogues = read_jsonl(path, parse_dialogue)
    seen: set[int] = set()
    for dialogue in dialogues:
        if dialogue.id in seen:
            raise DatasetError(f"{path}: dialogue id {dialogue.id} appears twice")
        seen.add(dialogue.id)
    return tuple(dialogues)


@cache
def load_mt_bench_101() -> tuple[Dialogue, ...]:
    """Return the 1,388 MT-Bench-101 dialogues shipped with the package (cached)."""
    return read_mt_bench_101(data_path("mt_bench_101", "mtbench101.jsonl.gz"))


# ---------------------------------------------------------------------------- GSM8K / MATH
def parse_gsm8k(row: Mapping[str, Any], index: int, split: str = "test") -> MathProblem:
    """Parse one GSM8K row ``{"question", "answer"}`` (the answer ends with ``#### N``)."""
    solution = _string(row, "answer")
    return MathProblem(
        index=index,
        problem_id=f"{split}/{index}",
        problem=_string(row, "question"),
        solution=solution,
        answer=gsm8k_reference_answer(solution),
    )


def parse_math(row: Mapping[str, Any], index: int) -> MathProblem:
    """Parse one MATH row ``{"problem", "level": "Level N", "type", "solution", "idx"}``."""
    solution = _string(row, "solution")
    answer = last_boxed(solution)
    if answer is None:
        raise ValueError("field 'solution' has no \\boxed{...} final answer")
    level = _string(row, "level")
    if not level.startswith("Level ") or not level[6:].isdigit():
        raise ValueError(f"field 'level' must look like 'Level 3', got {level!r}")
    return MathProblem(
        index=index,
        problem_id=str(_integer(row, "idx")),
        problem=_string(row, "problem"),
        solution=solution,
        answer=answer,
        subject=_string(row, "type"),
        level=int(level[6:]),
    )


def parse_math500(row: Mapping[str, Any], index: int) -> MathProblem:
    """Parse one MATH500 (PRM800K) row ``{"problem", "solution", "answer", "subject", ...}``."""
    return MathProblem(
        index=index,
        problem_id=_string(row, "unique_id"),
        problem=_string(row, "problem"),
        solution=_string(row, "solution"),
        answer=_string(row, "answer"),
        subject=_string(row, "subject"),
        level=_integer(row, "level"),
    )


def load_gsm8k(split: str = "test") -> tuple[MathProblem, ...]:
    """Return one split of GSM8K shipped with the package (cached).

    Args:
        split: ``"test"`` (default: the 1,319 evaluation problems, what
            :mod:`ompo_envs.evaluation.reasoning` scores) or ``"train"`` (7,473 problems).

    Raises:
        ValueError: ``split`` is neither.
    """
    return _load_gsm8k(check_split(split, GSM8K_SPLITS, "GSM8K"))


@cache
def _load_gsm8k(split: str) -> tuple[MathProblem, ...]:
    path = data_path("gsm8k", f"{split}.jsonl.gz")
    return tuple(read_jsonl(path, partial(parse_gsm8k, split=split)))


@cache
def load_math() -> tuple[MathProblem, ...]:
    """Return the 5,000 MATH test problems shipped with the package (cached)."""
    return tuple(read_jsonl(data_path("math", "math_test_5000.jsonl.gz"), parse_math))


@cache
def load_math500() -> tuple[MathProblem, ...]:
    """Return the 500 MATH500 problems shipped with the package (cached)."""
    return tuple(read_jsonl(data_path("math", "math500_test.jsonl.gz"), parse_math500))


@cache
def load_math_train() -> tuple[MathProblem, ...]:
    """Return the 4,500 MATH test problems that are not in MATH500 (cached).

    This is the part of the MATH test set that PRM800K trains on. It is computed from the two
    shipped files by :func:`exclude_problems`, so it keeps the 5,000-problem file's ``index`` and
    ``problem_id`` (``idx``); the indices of MATH500's problems are missing.
    """
    return exclude_problems(load_math(), load_math500(), dataset="MATH test minus MATH500")


def exclude_problems(
    problems: Sequence[MathProblem], excluded: Iterable[MathProblem], *, dataset: str
) -> tuple[MathProblem, ...]:
    """Return ``problems`` without the ones in ``excluded``, matched by problem text.

    Texts are compared by :func:`normalize_problem` (whitespace collapsed, case folded). Every
    excluded problem must match exactly one of ``problems``, with the same subject and level, so a
    changed data file fails loudly instead of leaking evaluation problems into training data.

    Args:
        problems: The set to take problems from.
        excluded: The problems to remove.
        dataset: The result's name, for error messages.

    Raises:
        DatasetError: An excluded problem matches no problem, several, or one of another subject
            or level, or two excluded problems match the same problem.
    """
    by_text: dict[str, list[MathProblem]] = defaultdict(list)
    for problem in problems:
        by_text[normalize_problem(problem.problem)].append(problem)
    removed: set[int] = set()
    for problem in excluded:
        matches = by_text.get(normalize_problem(problem.problem), [])
        where = f"{dataset}: the excluded problem {problem.problem_id!r}"
        if len(matches) != 1:
            raise DatasetError(f"{where} matches {len(matches)} problems by text; expected 1")
        (match,) = matches
        if (match.subject, match.level) != (problem.subject, problem.level):
            raise DatasetError(
                f"{where} matches problem {match.problem_id!r} by text but not by subject and "
                f"level ({problem.subject!r}, {problem.level} vs {match.subject!r}, {match.level})"
            )
        if match.index in removed:
            raise DatasetError(f"{where} matches problem {match.problem_id!r} a second time")
        removed.add(match.index)
    return tuple(problem for problem in problems if problem.index not in removed)
