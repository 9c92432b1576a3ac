"""Evaluation as the field reports it: MT-Bench-101 scores, win rates, GSM8K/MATH accuracy.

* :mod:`~ompo_envs.evaluation.generation` — answers from an OpenAI-compatible endpoint or a local
  Hugging Face folder, behind one ``generate(conversations) -> list[str]`` interface.
* :mod:`~ompo_envs.evaluation.mtbench101` — the official and the paper's protocol, judged with
  the shipped MT-Bench-101 prompts; :mod:`~ompo_envs.evaluation.aggregation` — the scores.
* :mod:`~ompo_envs.evaluation.winrate` — win rate under any preference oracle, bootstrap CI.
* :mod:`~ompo_envs.evaluation.reasoning` — GSM8K / MATH / MATH500 accuracy.

The ``ompo-bench mtbench101 | winrate | reasoning`` commands run them.
"""
