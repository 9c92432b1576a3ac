from __future__ import annotations

import collections
import functools
import gzip
import hashlib
import json

import pytest

from ompo_envs.text.datasets import (
    MT_BENCH_101_TASKS,
    DatasetError,
    MathProblem,
    data_path,
    exclude_problems,
    load_gsm8k,
    load_math,
    load_math500,
    load_math_train,
    load_mt_bench_101,
    normalize_problem,
    parse_dialogue,
    parse_gsm8k,
    read_jsonl,
    read_mt_bench_101,
)


def test_mt_bench_101_counts_match_source_md():
    dialogues = load_mt_bench_101()
    assert len(dialogues) == 1388
    assert sum(len(d.turns) for d in dialogues) == 4208
    counts = collections.Counter(d.task for d in dialogues)
    assert counts == {
        "CM": 80, "AR": 153, "SI": 149, "TS": 83, "CC": 147, "CR": 136, "FR": 74,
        "SC": 77, "SA": 73, "MR": 108, "GR": 71, "IC": 150, "PI": 87,
    }  # fmt: skip
    assert set(counts) == set(MT_BENCH_101_TASKS)
    assert sorted(d.id for d in dialogues) == list(range(1, 1389))


def test_math_datasets_load():
    assert len(load_gsm8k()) == 1319 and load_gsm8k()[0].answer == "18"
    math = load_math()
    assert len(math) == 5000 and {p.level for p in math} == {1, 2, 3, 4, 5}
    assert len(load_math500()) == 500
    assert load_math500()[0].problem_id.startswith("test/")


def test_gsm8k_splits_load_and_share_no_problem():
    train, test = load_gsm8k("train"), load_gsm8k("test")
    assert load_gsm8k() is test  # the loader's default stays the evaluation split
    assert len(train) == 7473 and len(test) == 1319
    assert train[0].answer == "72" and train[0].problem_id == "train/0"
    assert test[0].problem_id == "test/0"
    assert not {normalize_problem(p.problem) for p in train} & {
        normalize_problem(p.problem) for p in test
    }
    with pytest.raises(ValueError, match="GSM8K has no split 'dev': expected split='train' or"):
        load_gsm8k("dev")


def test_math_train_is_the_math_test_set_minus_math500():
    train, math500 = load_math_train(), load_math500()
    assert len(train) == 4500
    assert not {normalize_problem(p.problem) for p in train} & {
        normalize_problem(p.problem) for p in math500
    }
    assert all(load_math()[p.index] is p for p in train)  # same rows, in file order
    assert collections.Counter(p.subject for p in train) == collections.Counter(
        p.subject for p in load_math()
    ) - collections.Counter(p.subject for p in math500)


@pytest.mark.parametrize(
    ("folder", "name", "rows"),
    [("gsm8k", "train.jsonl.gz", 7473), ("gsm8k", "test.jsonl.gz", 1319)],
)
def test_shipped_gzip_matches_its_source_md(folder, name, rows):
    raw = data_path(folder, name).read_bytes()
    assert raw[4:8] == b"\0\0\0\0" and raw[8] == 2  # mtime 0, level 9 ("maximum compression")
    data = gzip.decompress(raw)
    source = data_path(folder, "SOURCE.md").read_text()
    row = next(line for line in source.splitlines() if line.startswith(f"| `{name}` |"))
    assert f"sha256 `{hashlib.sha256(data).hexdigest()}`" in row
    assert f"{rows:,} problems" in row and data.count(b"\n") == rows


def test_normalize_problem_collapses_whitespace_and_case():
    assert normalize_problem("  What is\n$2 +  2$?\t") == normalize_problem("WHAT IS $2 + 2$?")
    assert normalize_problem("a b") != normalize_problem("ab")


def _problem(index, text, subject="Algebra", level=1):
    return MathProblem(index, str(index), text, "s", "1", subject, level)


def test_exclude_problems_matches_by_normalised_text():
    problems = (_problem(0, "One  plus one?"), _problem(1, "Two?"), _problem(2, "Three?"))
    kept = exclude_problems(problems, [_problem(7, "one plus\none?")], dataset="d")
    assert kept == problems[1:]


@pytest.mark.parametrize(
    ("excluded", "match"),
    [
        ([_problem(7, "Four?")], "'7' matches 0 problems by text; expected 1"),
        ([_problem(7, "Two?")], "'7' matches 2 problems by text; expected 1"),
        ([_problem(7, "Three?", level=5)], "matches problem '3' by text but not by subject"),
        ([_problem(7, "Three?", subject="Geometry")], "but not by subject and level"),
        ([_problem(7, "Three?"), _problem(8, "three?")], "'8' matches problem '3' a second time"),
    ],
)
def test_exclude_problems_refuses_what_does_not_match_exactly_once(excluded, match):
    problems = (
        _problem(0, "One?"),
        _problem(1, "Two?"),
        _problem(2, "two?"),
        _problem(3, "Three?"),
    )
    with pytest.raises(DatasetError, match=match) as info:
        exclude_problems(problems, excluded, dataset="MATH minus X")
    assert str(info.value).startswith("MATH minus X: the excluded problem")


def test_package_data_ships_licenses_and_sources():
    for folder in ("mt_bench_101", "gsm8k", "math"):
        assert data_path(folder, "SOURCE.md").is_file()
    assert data_path("mt_bench_101", "LICENSE").is_file()
    assert data_path("gsm8k", "LICENSE").is_file()
    assert data_path("math", "LICENSE.hendrycks-math").is_file()


def write(tmp_path, name, lines, compress=False):
    path = tmp_path / name
    text = "".join(line + "\n" for line in lines)
    if compress:
        with gzip.open(path, "wt", encoding="utf-8") as handle:
            handle.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


GOOD = json.dumps({"task": "GR", "id": 1, "history": [{"user": "u", "bot": "b"}]})


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        (json.dumps({"task": "GR", "history": [{"user": "u", "bot": "b"}]}), "missing field 'id'"),
        (
            json.dumps({"task": "ZZ", "id": 2, "history": [{"user": "u", "bot": "b"}]}),
            "unknown task",
        ),
        (json.dumps({"task": "GR", "id": 2, "history": []}), "non-empty list"),
        (json.dumps({"task": "GR", "id": 2, "history": [{"user": "u"}]}), "missing field 'bot'"),
        (
            json.dumps({"task": "GR", "id": 2, "history": [{"user": 3, "bot": "b"}]}),
            "must be a string",
        ),
        (json.dumps({"task": "GR", "id": "2", "history": [{"user": "u", "bot": "b"}]}), "integer"),
    ],
)
@pytest.mark.parametrize("compress", [False, True])
def test_malformed_rows_name_file_and_line(tmp_path, bad, match, compress):
    path = write(tmp_path, "d.jsonl.gz" if compress else "d.jsonl", [GOOD, "", bad], compress)
    with pytest.raises(DatasetError, match=match) as info:
        read_mt_bench_101(path)
    assert f"{path}, line 3" in str(info.value)


def test_duplicate_ids_and_missing_files(tmp_path):
    with pytest.raises(DatasetError, match="appears twice"):
        read_mt_bench_101(write(tmp_path, "d.jsonl", [GOOD, GOOD]))
    with pytest.raises(DatasetError, match="missing"):
        read_jsonl(tmp_path / "nope.jsonl", parse_dialogue)
    with pytest.raises(DatasetError, match="no rows"):
        read_jsonl(write(tmp_path, "e.jsonl", []), parse_dialogue)


def test_gsm8k_row_without_marker(tmp_path):
    path = write(tmp_path, "g.jsonl", [json.dumps({"question": "q", "answer": "no marker"})])
    with pytest.raises(DatasetError, match=r"line 1: .*####"):
        read_jsonl(path, parse_gsm8k)


def test_gsm8k_train_rows_are_checked_like_test_rows(tmp_path):
    path = write(tmp_path, "train.jsonl", [json.dumps({"question": "q", "answer": "#### 3"}), "{}"])
    with pytest.raises(DatasetError, match=r"train.jsonl, line 2: missing field 'answer'"):
        read_jsonl(path, functools.partial(parse_gsm8k, split="train"))
