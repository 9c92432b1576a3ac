"""README's "Training a language model in the text games" example runs as written.

Only the checkpoint folder and the output folder are replaced (by a tiny local model saved with
short generation settings, and a temporary folder).
"""

from __future__ import annotations

import re
from pathlib import Path

import ompo_envs

README = Path(__file__).parents[3] / "README.md"
HEADING = "## Training a language model in the text games: OMPO, MPO, SPPO, DPO, Step-DPO"


def readme_example() -> str:
    """The first Python block of the README's LM-solver section."""
    text = README.read_text()
    section = text[text.index(HEADING) :]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_example_trains_and_saves(tmp_path, capsys):
    from benchmarks.lm_known_ne import tiny_policy

    env = ompo_envs.make("TextRepeatedRockPaperScissors-v0")
    tiny_policy(env, tmp_path / "build", seed=0, num_layers=1).save(tmp_path / "model")
    code = readme_example()
    assert code.count('"/local/model"') == 1 and code.count('"run/final"') == 1
    code = code.replace('"/local/model"', repr(str(tmp_path / "model")))
    code = code.replace('"run/final"', repr(str(tmp_path / "final")))
    namespace: dict = {}
    exec(compile(code, str(README), "exec"), namespace)
    solver, metrics = namespace["solver"], namespace["metrics"]
    assert solver.iteration == 2 and metrics["records"] > 0
    assert "exploitability_last" in capsys.readouterr().out
    assert (tmp_path / "final" / "ompo_lm_policy.json").is_file()
