"""The ``[solver]`` of a config as one of the paper's LM solvers (:mod:`solvers.lm`).

ompo-train runs the methods of ``solvers.lm`` — OMPO (Alg. 2), MPO (Alg. 4), Step-DPO,
iterative SPPO and DPO — stage by stage: their rollouts, oracle comparisons, records, scores and
losses; it adds only the run around them (chunks, processes, checkpoints, the optimiser loop).
This module maps the config onto a solver:

=================== ==========================================================================
config              solver field
=================== ==========================================================================
``solver.method``   the class: ``ompo`` → LMOMPO, ``mpo`` → LMMPO, ``step-dpo`` → LMStepDPO,
                    ``sppo`` → LMSPPO, ``dpo`` → LMDPO
``solver.num_answers``  ``num_samples`` (K)
``solver.beta``     ``beta``
``solver.estimator``    ``estimator`` (step-level methods only)
``solver.options``  any other field (``num_continuations``, ``optimism_source``,
                    ``label_smoothing``)
``env.episodes_per_iteration``  ``num_prompts``
``run.seed``        ``seed``
=================== ==========================================================================

The solver's own optimiser settings are not used: the ``[train]`` section drives ompo-train's
accelerate loop (:mod:`training.optimise`) with the solver's :meth:`~solvers.lm.LMSolver.loss`.
"""

from __future__ import annotations

from typing import Any

from training.config import ConfigError, TrainingConfig

__all__ = ["SOLVERS", "build_solver", "rollout_rows", "solver_config"]

#: ``solver.method`` → the class in :mod:`solvers.lm`.
SOLVERS = {
    "ompo": "LMOMPO",
    "mpo": "LMMPO",
    "step-dpo": "LMStepDPO",
    "sppo": "LMSPPO",
    "dpo": "LMDPO",
}


def _solver_class(method: str) -> type:
    import solvers.lm

    return getattr(solvers.lm, SOLVERS[method])


def solver_config(config: TrainingConfig) -> Any:
    """Return the validated ``LM*Config`` of ``config``'s method.

    Raises:
        ConfigError: A setting the method does not have or does not allow; the message names
            the ``[solver]`` key.
    """
    section = config.solver
    cls = _solver_class(section.method).config_class
    known = set(cls.__dataclass_fields__)
    fields: dict[str, Any] = {
        "num_samples": section.num_answers,
        "beta": section.beta,
        "num_prompts": config.env.episodes_per_iteration,
        "seed": config.run.seed,
    }
    if "estimator" in known:
        fields["estimator"] = section.estimator
    elif section.estimator != "one_step":
        raise ConfigError(
            f"solver.estimator = {section.estimator!r} is not allowed with solver.method = "
            f"{section.method!r}: {section.method} compares whole conversations (remove the key)"
        )
    for key, value in section.options.items():
        if key not in known or key in fields or key in ("optimizer", "checkpoint_dir"):
            allowed = sorted(known - set(fields) - {"optimizer", "checkpoint_dir", "eval_episodes"})
            raise ConfigError(
                f"solver.options.{key} is not allowed with solver.method = {section.method!r}: "
                f"its options are {allowed} (the others are [solver], [env] and [train] keys)"
            )
        fields[key] = value
    try:
        return cls(**fields)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"[solver] with method = {section.method!r}: {error}") from error


def build_solver(config: TrainingConfig, env: Any, policy: Any) -> Any:
    """Return the configured LM solver over ``env`` with ``policy`` as π^t."""
    return _solver_class(config.solver.method)(env, solver_config(config), policy=policy)


def rollout_rows(rollouts: Any) -> list[dict[str, Any]]:
    """A readable JSON view of a solver's rollouts (``RUN/iteration_t/data/rollouts.jsonl``).

    Step-level methods: one row per state, ``{"root", "stage", "messages", "answers"}`` (the K
    answers of π^t there). SPPO / DPO: one row per conversation, ``{"root", "turns"}`` with
    ``turns = [{"messages", "answer"}, ...]``.
    """
    from solvers.lm.step_level import StepRollouts

    if isinstance(rollouts, StepRollouts):
        return [
            {
                "root": group.root,
                "stage": group.at.stage,
                "messages": group.at.info["messages"],
                "answers": list(group.answers),
            }
            for group in rollouts.groups
        ]
    return [
        {
            "root": trajectory.root,
            "turns": [
                {"messages": at.info["messages"], "answer": answer}
                for at, answer in trajectory.steps
            ],
        }
        for group in rollouts.groups
        for trajectory in group
    ]
