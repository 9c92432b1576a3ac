"""No shipped training config plays a problem of an evaluation set (the paper's data protocol).

Each shipped config's env is built as ``ompo-train`` builds it (its id and options; a cheap
oracle in place of the download), and the problems it can draw are compared with every
evaluation set of the math runs — GSM8K test, MATH500, and ``MATH-v1``'s ``split="test"`` — by
normalised problem text (whitespace collapsed, case folded).
"""

from __future__ import annotations

from unittest import mock

import ompo_envs
from ompo_envs.text import base as text_base
from ompo_envs.text.datasets import MathProblem, load_gsm8k, load_math500, normalize_problem
from tests.training.oracles import length_oracle
from training.config import load_config
from training.configs import list_configs, shipped_config

#: Evaluation set name -> its problems (``MATH-v1 test`` as the env plays it).
EVALUATION_SETS: dict[str, tuple[MathProblem, ...]] = {
    "GSM8K test": load_gsm8k("test"),
    "MATH500": load_math500(),
    "MATH-v1 test": ompo_envs.make("MATH-v1", split="test", oracle=length_oracle()).problems,
}


def _training_problems(name: str) -> tuple[MathProblem, ...] | None:
    """The problems the shipped config ``name`` trains on, or None if its env has none.

    The env gets the config's id and options; an env that would load PairRM gets a length oracle.
    """
    config = load_config(shipped_config(name))
    with mock.patch.object(text_base, "load_default_oracle", length_oracle):
        env = ompo_envs.make(config.env.id, **config.env.options)
    return getattr(env.unwrapped, "problems", None)


def _overlap(problems: tuple[MathProblem, ...], evaluation: tuple[MathProblem, ...]) -> set[str]:
    texts = {normalize_problem(p.problem) for p in evaluation}
    return {normalize_problem(p.problem) for p in problems} & texts


def test_no_shipped_config_trains_on_an_evaluation_problem():
    checked = []
    for name in list_configs():
        problems = _training_problems(name)
        if problems is None:  # not a problem set (MT-Bench-101 dialogues, RPS)
            continue
        checked.append(name)
        for evaluation, evaluation_problems in EVALUATION_SETS.items():
            shared = _overlap(problems, evaluation_problems)
            assert not shared, f"{name} trains on {len(shared)} problems of {evaluation}"
    assert checked == [n for n in list_configs() if n.startswith("math-")] and checked


def test_every_math_config_trains_on_a_training_split_and_says_so():
    math_runs = [n for n in list_configs() if n.startswith("math-")]
    assert len(math_runs) == 4
    for name in math_runs:
        config = load_config(shipped_config(name))
        assert (config.env.id, config.env.options.get("split")) == ("MATH-v1", "train"), name
        assert len(_training_problems(name) or ()) == 4500
        path = shipped_config(name)
        assert path is not None
        header = " ".join(
            line.lstrip("# ")
            for line in path.read_text(encoding="utf-8").splitlines()
            if line.startswith("#")
        )
        for words in ('Training: MATH-v1 split = "train"', "Evaluation: GSM8K test", "MATH500"):
            assert words in header, (name, words)


def test_the_check_finds_the_overlap_of_the_superseded_envs():
    """The comparison is not vacuous: the v0 envs and the test splits do overlap."""
    math_v0 = ompo_envs.make("MATH-v0", oracle=length_oracle()).problems
    gsm8k_v0 = ompo_envs.make("GSM8K-v0", oracle=length_oracle()).problems
    assert len(_overlap(math_v0, EVALUATION_SETS["MATH500"])) == 500
    assert len(_overlap(gsm8k_v0, EVALUATION_SETS["GSM8K test"])) == 1319
    whitespace_and_case = tuple(
        MathProblem(p.index, p.problem_id, "  " + p.problem.upper().replace(" ", "\n"), "", "")
        for p in EVALUATION_SETS["MATH500"][:3]
    )
    assert len(_overlap(whitespace_and_case, EVALUATION_SETS["MATH-v1 test"])) == 3
