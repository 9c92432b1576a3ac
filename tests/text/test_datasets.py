from __future__ import annotations

import collections
import gzip
import json

import pytest

from ompo_envs.text.datasets import (
    MT_BENCH_101_TASKS,
    DatasetError,
    data_path,
    load_gsm8k,
    load_math,
    load_math500,
    load_mt_bench_101,
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
