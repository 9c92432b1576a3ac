from __future__ import annotations

import pytest

from ompo_envs.evaluation.aggregation import ABILITY_GROUPS, aggregate, markdown_table
from ompo_envs.text.datasets import MT_BENCH_101_TASKS, load_mt_bench_101


def rec(dialogue, task, turn, rating):
    return {"dialogue_id": dialogue, "task": task, "turn": turn, "rating": rating}


# CM dialogue 10: its first turn is skipped, so only turns 2 and 3 are rated.
# GR has two dialogues, SI exactly one; one SI turn had no rating.
RECORDS = [
    rec(10, "CM", 2, 6),
    rec(10, "CM", 3, 9),
    rec(1, "GR", 1, 8),
    rec(1, "GR", 2, 4),
    rec(1, "GR", 3, 7),
    rec(2, "GR", 1, 10),
    rec(2, "GR", 2, 9),
    rec(30, "SI", 1, 5),
    rec(30, "SI", 2, None),
    rec(30, "SI", 3, 3),
]


def test_official_min_then_task_mean_then_unweighted_task_mean():
    out = aggregate(RECORDS, reduce="min")
    assert out["tasks"]["CM"] == {"score": 6.0, "dialogues": 1}
    assert out["tasks"]["GR"] == {"score": (4 + 9) / 2, "dialogues": 2}
    assert out["tasks"]["SI"] == {"score": 3.0, "dialogues": 1}  # the unrated turn is left out
    assert out["overall"] == pytest.approx((6 + 6.5 + 3) / 3)
    assert out["overall_dialogue_mean"] == pytest.approx((6 + 4 + 9 + 3) / 4)
    assert out["groups"] == {"Perceptivity": pytest.approx(4.5), "Adaptability": 6.5}
    assert (out["rated_turns"], out["unrated_turns"], out["unrated_dialogues"]) == (9, 1, 0)


def test_paper_mean_per_dialogue():
    out = aggregate(RECORDS, reduce="mean")
    assert out["tasks"]["CM"]["score"] == 7.5
    assert out["tasks"]["GR"]["score"] == pytest.approx((19 / 3 + 9.5) / 2)
    assert out["tasks"]["SI"]["score"] == 4.0
    assert out["overall"] == pytest.approx((7.5 + (19 / 3 + 9.5) / 2 + 4) / 3)


def test_unrated_dialogue_and_empty_input():
    out = aggregate([rec(5, "PI", 1, None), rec(5, "PI", 2, None)], reduce="min")
    assert out["overall"] is None and out["tasks"] == {} and out["unrated_dialogues"] == 1
    assert aggregate([], reduce="mean")["overall"] is None


def test_bad_records():
    with pytest.raises(ValueError, match="reduce"):
        aggregate(RECORDS, reduce="max")
    with pytest.raises(ValueError, match="unknown task"):
        aggregate([rec(1, "XX", 1, 5)], reduce="min")
    with pytest.raises(ValueError, match="appears under tasks"):
        aggregate([rec(1, "GR", 1, 5), rec(1, "MR", 2, 5)], reduce="min")
    with pytest.raises(ValueError, match="number or None"):
        aggregate([rec(1, "GR", 1, float("nan"))], reduce="min")


def test_groups_cover_the_13_tasks_and_table():
    tasks = [t for members in ABILITY_GROUPS.values() for t in members]
    assert sorted(tasks) == sorted(MT_BENCH_101_TASKS) and len(tasks) == 13
    table = markdown_table({"m": aggregate(RECORDS, reduce="min")})
    assert table.splitlines()[0].startswith("| model | overall | Perceptivity")
    assert "| m | 5.17 | 4.50 | 6.50 | — | 6.00 |" in table


def test_skipped_first_turns_match_the_dataset():
    judged = sum(sum(d.scored_turns) for d in load_mt_bench_101())
    assert judged == 3615  # 4,208 turns, minus the first turn of FR, CR, AR, SA, SC, CM dialogues
