"""Exact exploitability of a text policy in a known-equilibrium text game, estimated by sampling.

A text policy (an LLM) maps conversations to answers; in a game whose answers fall into classes
(:class:`~ompo_envs.text.lifted.LiftedTabularEnv`, ``TextRockPaperScissors-v0``,
``TextVoters-v0``) it *induces* a class policy on the tabular game over answer classes

    π̂_h(c | s, s1) = P(class(A_h) = c | S_h = s, S_1 = s1),

the probability, over the text policy's own trajectories, that its stage-h answer in tabular
state s falls in class c. The tabular states are Markov and the preference depends only on
(state, class), so π̂ has the text policy's occupancy and hence its exploitability; that is
computed *exactly* by :func:`~ompo_envs.tabular.exploitability` on the class game. π̂ itself is
estimated from N self-play episodes (2N trajectories: both seats play the policy), stratified
over the support of ν1, at every reachable state; the standard error comes from a bootstrap over
trajectories within each stratum. Like any plug-in estimate of a maximum it is biased upward
by sampling noise, by O(1/√N).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ompo_envs.tabular import TabularGame, exploitability, policy_from_occupancy
from ompo_envs.text.base import TextPreferenceGameEnv
from ompo_envs.text.batch import TextEnvBatch
from ompo_envs.text.known_ne import ClassMatrixGameEnv
from ompo_envs.text.lifted import LiftedTabularEnv

__all__ = [
    "ExploitabilityEstimate",
    "class_game_of",
    "estimate_exploitability",
    "exploitability_from_trajectories",
]

_SEED_BOUND = 2**31 - 1


@dataclass(frozen=True)
class ExploitabilityEstimate:
    """The exploitability of a text policy's induced class policy.

    Attributes:
        value: Exploitability of the estimated induced class policy (exact evaluation).
        stderr: Bootstrap standard error of ``value``.
        class_policy: The estimated π̂, shape (n_init, H, S, C) over the game's answer classes
            (uniform at states no trajectory reached).
        unrecognised_rate: Fraction of answers in the last class (*unrecognised*).
        num_trajectories: Trajectories the estimate uses (two per episode).
    """

    value: float
    stderr: float
    class_policy: np.ndarray
    unrecognised_rate: float
    num_trajectories: int


def class_game_of(env: Any) -> tuple[TabularGame, Callable[[str], int]]:
    """Return the tabular game over answer classes of a known-equilibrium text game + classifier.

    Raises:
        TypeError: ``env`` has no known class game (it is not a lifted or class-matrix game).
    """
    env = getattr(env, "unwrapped", env)
    if isinstance(env, LiftedTabularEnv):
        return env.class_game, env.classify
    if isinstance(env, ClassMatrixGameEnv):
        m = env.class_matrix
        k = m.shape[0]
        game = TabularGame(
            initial_distribution=np.ones(1),
            transitions=np.ones((1, k, 1)),
            reward=m.reshape(1, k, 1, k),
            horizon=1,
        )
        return game, env.classify
    raise TypeError(
        "exploitability needs a text game with a known class game (a LiftedTabularEnv such as "
        "TextRepeatedRockPaperScissors-v0, or TextRockPaperScissors-v0 / TextVoters-v0), got "
        f"{type(env).__name__}"
    )


def estimate_exploitability(
    env: TextPreferenceGameEnv,
    policy: Any,
    *,
    num_episodes: int,
    rng: np.random.Generator,
    num_bootstrap: int = 200,
    envs: TextEnvBatch | None = None,
) -> ExploitabilityEstimate:
    """Estimate the exploitability of ``policy`` (see the module docstring).

    Args:
        env: A known-equilibrium text game (used as a template: rollouts run in copies).
        policy: A text policy (``sample`` / ``sample_batch``), or a trajectory-level mixture
            with ``draw(rng)`` (one component per episode, e.g. an average iterate).
        num_episodes: Self-play episodes (≥ 1 per initial state); each gives two trajectories.
        rng: Source of the env seeds, the policy's samples and the bootstrap.
        num_bootstrap: Bootstrap replicates for the standard error (≥ 2).
        envs: Env copies to reuse across calls (at least ``num_episodes`` copies of ``env``;
            copying an env costs ~1 ms); default: fresh copies.

    Raises:
        TypeError: ``env`` has no class game.
        ValueError: ``num_episodes`` is smaller than the number of initial states, or ``envs``
            is too small.
    """
    game, classify = class_game_of(env)
    starts = game.initial_states
    if (
        isinstance(num_episodes, bool)
        or not isinstance(num_episodes, int)
        or num_episodes < len(starts)
    ):
        raise ValueError(
            f"num_episodes must be an integer >= the number of initial states ({len(starts)}), "
            f"got {num_episodes!r}"
        )
    if isinstance(num_bootstrap, bool) or not isinstance(num_bootstrap, int) or num_bootstrap < 2:
        raise ValueError(f"num_bootstrap must be an integer >= 2, got {num_bootstrap!r}")
    lifted = isinstance(getattr(env, "unwrapped", env), LiftedTabularEnv)
    init = np.arange(num_episodes) % len(starts)
    options = [{"initial_state": int(starts[i])} if lifted else None for i in init]
    if envs is None:
        batch = TextEnvBatch.from_env(getattr(env, "unwrapped", env), num_episodes)
    elif len(envs) < num_episodes:
        raise ValueError(f"envs holds {len(envs)} envs, fewer than num_episodes={num_episodes}")
    else:
        batch = TextEnvBatch(envs.envs[:num_episodes])
    observations, infos = batch.reset(seed=int(rng.integers(_SEED_BOUND)), options=options)
    players = _episode_policies(policy, num_episodes, rng)
    horizon = game.horizon
    states = np.zeros((num_episodes, 2, horizon), dtype=np.int64)
    classes = np.zeros((num_episodes, 2, horizon), dtype=np.int64)
    for h in range(horizon):
        live = [i for i in range(num_episodes) if batch[i].agents]
        if len(live) != num_episodes:
            raise ValueError("an episode ended before the horizon; class games have fixed length")
        answers = _sample_seats(players, live, observations, infos, rng)
        joint = []
        for i in live:
            for seat, agent in enumerate(("player_0", "player_1")):
                states[i, seat, h] = int(infos[i][agent].get("state_index", 0))
                classes[i, seat, h] = classify(answers[i][seat])
            joint.append({"player_0": answers[i][0], "player_1": answers[i][1]})
        results = batch.step(joint)
        for i, result in zip(live, results, strict=True):
            if result is not None:
                observations[i], infos[i] = result[0], result[4]
    return exploitability_from_trajectories(
        game,
        np.repeat(init, 2),
        states.reshape(-1, horizon),
        classes.reshape(-1, horizon),
        rng=rng,
        num_bootstrap=num_bootstrap,
    )


def exploitability_from_trajectories(
    game: TabularGame,
    init: np.ndarray,
    states: np.ndarray,
    classes: np.ndarray,
    *,
    rng: np.random.Generator,
    num_bootstrap: int = 200,
) -> ExploitabilityEstimate:
    """Exploitability of the class policy induced by recorded trajectories, with its stderr.

    Args:
        game: The tabular game over answer classes (:func:`class_game_of`).
        init: (n,) row of s1 (in ``game.initial_states``) of each trajectory.
        states: (n, H) tabular state of each trajectory at each stage.
        classes: (n, H) answer class of each trajectory at each stage.
        rng: Source of the bootstrap resamples (within each initial state).
        num_bootstrap: Replicates (≥ 2).
    """
    init, states, classes = (np.asarray(x, dtype=np.int64) for x in (init, states, classes))
    n = init.shape[0]
    if states.shape != (n, game.horizon) or classes.shape != (n, game.horizon):
        raise ValueError(
            f"states and classes must have shape (n, H) = ({n}, {game.horizon}), got "
            f"{states.shape} and {classes.shape}"
        )
    everything = np.arange(n)
    value = _exploitability(game, init, states, classes, everything)
    strata = [
        rows
        for rows in (np.flatnonzero(init == i) for i in range(game.num_initial_states))
        if len(rows)
    ]
    replicates = []
    for _ in range(num_bootstrap):
        pick = np.concatenate([rng.choice(rows, size=len(rows)) for rows in strata])
        replicates.append(_exploitability(game, init, states, classes, pick))
    return ExploitabilityEstimate(
        value=value,
        stderr=float(np.std(replicates, ddof=1)),
        class_policy=policy_from_occupancy(_counts(game, init, states, classes, everything)),
        unrecognised_rate=float(np.mean(classes == game.num_actions - 1)),
        num_trajectories=n,
    )


def _counts(
    game: TabularGame, init: np.ndarray, states: np.ndarray, classes: np.ndarray, rows: np.ndarray
) -> np.ndarray:
    counts = np.zeros(game.policy_shape)
    horizon = states.shape[1]
    h = np.broadcast_to(np.arange(horizon), (len(rows), horizon))
    i = np.broadcast_to(init[rows][:, None], (len(rows), horizon))
    np.add.at(counts, (i, h, states[rows], classes[rows]), 1.0)
    return counts


def _exploitability(
    game: TabularGame, init: np.ndarray, states: np.ndarray, classes: np.ndarray, rows: np.ndarray
) -> float:
    return exploitability(game, policy_from_occupancy(_counts(game, init, states, classes, rows)))


def _episode_policies(policy: Any, n: int, rng: np.random.Generator) -> list[Any]:
    draw = getattr(policy, "draw", None)
    if callable(draw) and not callable(getattr(policy, "sample", None)):
        return [draw(rng) for _ in range(n)]
    return [policy] * n


def _sample_seats(
    players: Sequence[Any],
    live: Sequence[int],
    observations: Sequence[Mapping[str, Any]],
    infos: Sequence[Mapping[str, Any]],
    rng: np.random.Generator,
) -> dict[int, list[str]]:
    """One batched sampling call per distinct policy for both seats of every live episode."""
    answers: dict[int, list[str]] = {i: ["", ""] for i in live}
    groups: dict[int, list[int]] = {}
    for i in live:
        groups.setdefault(id(players[i]), []).append(i)
    for members in groups.values():
        policy = players[members[0]]
        slots = [(i, seat) for i in members for seat in range(2)]
        agent = ("player_0", "player_1")
        obs = [observations[i][agent[seat]] for i, seat in slots]
        info = [infos[i][agent[seat]] for i, seat in slots]
        batch = getattr(policy, "sample_batch", None)
        drawn = (
            batch(obs, info, rng)
            if callable(batch)
            else [policy.sample(o, f, rng) for o, f in zip(obs, info, strict=True)]
        )
        for (i, seat), answer in zip(slots, drawn, strict=True):
            answers[i][seat] = answer
    return answers
