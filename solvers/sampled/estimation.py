"""Monte Carlo Q estimation through the env API only: reset, step, snapshot/restore, infos.

Nothing here reads a game model. The loop works for any :class:`~ompo_envs.core.PreferenceGameEnv`
(a tabular env today, a text env with an LLM policy later): it needs the two players' observations
and ``infos``, the player_0 rewards, and branching.

One iteration (the sampling part of Alg. 2 / Alg. 4):

1. **Root episodes.** ``num_episodes`` episodes S_1 ~ ν1 in which both players follow π^t. Before
   each stage h the env is snapshotted; every distinct player_0 row (s1, h, S_h) met is a *branch
   point* (the first visit is kept: estimating a row once per iteration is enough).
2. **Continuations.** At a branch point and for each candidate action a (tabular: every action),
   K continuations are rolled out in which player_0 plays a at stage h and π^t afterwards, and
   player_1 follows an opponent policy q (π^t, or π^{t−1} for OMPO's optimistic term). The
   return G^k = Σ_{τ≥h} r_τ is player_0's reward summed from stage h (what the env pays).
3. **Fresh opponent states.** Q^{π,q}_h(s, a) averaged as in Eq. 2 / Eq. 4 needs the opponent's
   stage-h state S'_h ~ d_h^{q}(·|s1), *independent* of player_0's S_h = s. Given s1 the two
   players' trajectories are independent, so the opponent state of the root episode has that law
   for q = π^t — but all K continuations would share it, and the estimate would not converge to
   Q as K grows. So for h > 1 each continuation k takes player_1's stage-h state from its own
   fresh rollout from the root's s1 under q (K opponent rollouts per root and q, shared by the
   rows and actions of that root), spliced with player_0's branch state into one episode. Both
   halves are valid stage-h states of the same s1, so the spliced episode is a legal branch
   point; the sample (S_h = s, S'_h) then has exactly the law of (s, d_h^q(·|s1)).

Unbiasedness: for one continuation, E[G^k | S_h = s, A_h = a] = E_{S',A'~d_h^q}
Q_h^{π^t,q}(s, a, S', A') by the tower property (player_0 forced to a then π^t, player_1 from an
independent S'_h ~ d_h^q then q), so the mean over k is unbiased for every K and its variance is
O(1/K). OMPO's Eq. 2 is linear in the two terms, so 2 Ĝ(π^t) − Ĝ(π^{t−1}) is unbiased for
Q_{h,r̃}^{π^t}(s, a) even though the two terms use *independent* player_0 continuations (the env
pays only player_0 vs player_1 of the same episode, and player_0's transition noise comes from
each env's own generator, so one player_0 trajectory cannot be compared with two opponents in
general; sharing it would only reduce variance). Forcing a instead of weighting by 1{A_h = a}
gives a per-action estimate without importance weights.

Continuations run as a batch of env copies stepped with :func:`~ompo_envs.core.step_batch`, so
a batched preference model (an LLM judge) is called once per stage for the whole batch, and each
policy samples once per stage for all the live envs it plays in
(:func:`ompo_envs.policies.sample_each`: one ``sample_batch`` call for an LLM policy).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ompo_envs.core import Episode, PreferenceGameEnv, step_batch
from ompo_envs.policies import Policy, RowKey, TrainablePolicy, sample_each

_SEED_BOUND = 2**63 - 1
#: Most env copies stepped together; larger batches run in chunks (copies cost ~ms to create).
MAX_BATCH = 128


@dataclass(frozen=True)
class SavedPoint:
    """A branch point: an env snapshot plus what each player observed there.

    Attributes:
        episode: What :meth:`PreferenceGameEnv.snapshot` returned.
        observations: ``{agent: observation}`` at that point.
        infos: ``{agent: info}`` at that point (``h`` is the stage).
    """

    episode: Episode
    observations: dict[str, Any]
    infos: dict[str, dict[str, Any]]

    @property
    def stage(self) -> int:
        """h, the 1-based stage of the states."""
        return int(self.infos["player_0"]["h"])


@dataclass(frozen=True)
class BranchPoint:
    """A visited player_0 row (s1, h, s) of one root episode.

    Attributes:
        key: The row's key under the trained policy (tabular: ``(init_index, h − 1, s)``).
        point: The root episode at stage h (player_0 in state s).
        root: Index of the root episode (opponent rollouts are shared per root).
    """

    key: RowKey
    point: SavedPoint
    root: int


def splice(player_0: SavedPoint, player_1: SavedPoint) -> SavedPoint:
    """Return the point with player_0 as in ``player_0`` and player_1 as in ``player_1``.

    Both points must be at the same stage h of episodes with the same s1: the players' states are
    independent given s1, so the pair is a legal stage-h state of the game.

    Raises:
        ValueError: Different stages, different s1, or a finished episode.
    """
    a, b = player_0.episode, player_1.episode
    if a.h != b.h or a.done or b.done:
        raise ValueError(
            f"can only splice two live episodes at the same stage, got h={a.h} (done={a.done}) "
            f"and h={b.h} (done={b.done}); an env whose episodes end early cannot refresh "
            "opponent states at this stage"
        )
    if not _same(a.s1, b.s1):
        raise ValueError("can only splice episodes with the same initial state s1")
    episode = dataclasses.replace(a, states=(a.states[0], b.states[1]))
    return SavedPoint(
        episode=episode,
        observations={
            "player_0": player_0.observations["player_0"],
            "player_1": player_1.observations["player_1"],
        },
        infos={"player_0": player_0.infos["player_0"], "player_1": player_1.infos["player_1"]},
    )


def _same(x: Any, y: Any) -> bool:
    result = x == y
    return bool(np.all(result)) if isinstance(result, np.ndarray) else bool(result)


class BranchingSampler:
    """Root episodes and batched continuations for one env, with a pool of env copies.

    Args:
        env: The env to sample from. It is used as a template only: every rollout runs in a deep
            copy (copies share the read-only model/oracle), each reseeded from ``rng``.
        rng: The source of every random draw: env seeds and policy samples.
    """

    def __init__(self, env: PreferenceGameEnv, rng: np.random.Generator) -> None:
        unwrapped = getattr(env, "unwrapped", env)
        if not isinstance(unwrapped, PreferenceGameEnv):
            raise TypeError(
                "sample-based solvers need an ompo_envs PreferenceGameEnv (e.g. "
                f"ompo_envs.make('RandomGame-v0')), got {type(env).__name__}"
            )
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy Generator, got {type(rng).__name__}")
        self.env = unwrapped
        self.rng = rng
        self._pool: list[PreferenceGameEnv] = []
        self.num_env_steps = 0
        self.num_preference_queries = 0

    # ------------------------------------------------------------------ all-or-nothing use
    def save_state(self) -> SamplerState:
        """Everything a rollout can change: the random streams, the pool and the counters."""
        pool = tuple(
            (
                env,
                (env._episode, list(env.agents)),
                (env._np_random, env._np_random_seed, env._np_random.bit_generator.state),
            )
            for env in self._pool
        )
        return SamplerState(
            self.rng.bit_generator.state, pool, self.num_env_steps, self.num_preference_queries
        )

    def restore_state(self, saved: SamplerState) -> None:
        """Undo every draw and count made since :meth:`save_state` (e.g. after a failed update).

        The next rollouts are then exactly those the sampler would have made without the calls
        in between. (Episodes are immutable values: an env's is restored by reference.)
        """
        self.rng.bit_generator.state = saved.rng_state
        self._pool = [env for env, *_ in saved.pool]
        for env, (episode, agents), (generator, seed, state) in saved.pool:
            generator.bit_generator.state = state
            env._np_random, env._np_random_seed = generator, seed
            env._episode, env.agents = episode, agents
        self.num_env_steps = saved.num_env_steps
        self.num_preference_queries = saved.num_preference_queries

    # ------------------------------------------------------------------ env copies
    def _envs(self, n: int) -> list[PreferenceGameEnv]:
        while len(self._pool) < n:
            clone = copy.deepcopy(self.env)
            clone.reset(seed=self._seed())  # own random stream for every copy
            self._pool.append(clone)
        return self._pool[:n]

    def _seed(self) -> int:
        return int(self.rng.integers(_SEED_BOUND))

    # ------------------------------------------------------------------ the batched rollout
    def play(
        self,
        starts: Sequence[SavedPoint | None],
        player_0: Sequence[Policy],
        player_1: Sequence[Policy],
        first_actions: Sequence[Any] | None = None,
        record: bool = False,
    ) -> tuple[np.ndarray, list[list[SavedPoint]]]:
        """Play episodes to the end in a batch; return player_0's returns and optional snapshots.

        Args:
            starts: Per episode, the point to restore, or ``None`` for a fresh ``reset``.
            player_0: Per episode, player_0's policy.
            player_1: Per episode, player_1's policy.
            first_actions: Per episode, player_0's forced action at the first stage played
                (``None`` entries sample it from ``player_0``).
            record: Also return every point passed through (one list per episode, stage order).

        Returns:
            ``(returns, points)``: returns[i] = Σ_τ r_τ of player_0 from the start point on.
        """
        n = len(starts)
        if n > MAX_BATCH:
            returns_list, points_list = [], []
            for lo in range(0, n, MAX_BATCH):
                hi = min(lo + MAX_BATCH, n)
                chunk_returns, chunk_points = self.play(
                    starts[lo:hi],
                    player_0[lo:hi],
                    player_1[lo:hi],
                    None if first_actions is None else first_actions[lo:hi],
                    record,
                )
                returns_list.append(chunk_returns)
                points_list.extend(chunk_points)
            return np.concatenate(returns_list), points_list
        envs = self._envs(n)
        observations: list[dict[str, Any]] = []
        infos: list[dict[str, dict[str, Any]]] = []
        for env, start in zip(envs, starts, strict=True):
            if start is None:
                obs, info = env.reset(seed=self._seed())
            else:
                env.restore(start.episode)
                obs, info = start.observations, start.infos
            observations.append(obs)
            infos.append(info)
        returns = np.zeros(n)
        points: list[list[SavedPoint]] = [[] for _ in range(n)]
        live = [i for i in range(n) if envs[i].agents]
        forced = list(first_actions) if first_actions is not None else [None] * n
        while live:
            if record:
                for i in live:
                    points[i].append(SavedPoint(envs[i].snapshot(), observations[i], infos[i]))
            free = [i for i in live if forced[i] is None]
            actions_0 = dict(
                zip(free, self._sample(player_0, free, observations, infos, 0), strict=True)
            )
            actions_1 = dict(
                zip(live, self._sample(player_1, live, observations, infos, 1), strict=True)
            )
            joint = []
            for i in live:
                a0 = actions_0[i] if forced[i] is None else forced[i]
                joint.append({"player_0": a0, "player_1": actions_1[i]})
                forced[i] = None
            results = step_batch([envs[i] for i in live], joint)
            self.num_env_steps += len(live)
            self.num_preference_queries += len(live)
            still = []
            for i, (obs, rewards, terminations, truncations, info) in zip(
                live, results, strict=True
            ):
                returns[i] += rewards["player_0"]
                observations[i], infos[i] = obs, info
                if not (terminations["player_0"] or truncations["player_0"]):
                    still.append(i)
            live = still
        return returns, points

    def _sample(
        self,
        policies: Sequence[Policy],
        indices: Sequence[int],
        observations: Sequence[dict[str, Any]],
        infos: Sequence[dict[str, dict[str, Any]]],
        player: int,
    ) -> list[Any]:
        agent = ("player_0", "player_1")[player]
        return sample_each(
            [policies[i] for i in indices],
            [observations[i][agent] for i in indices],
            [infos[i][agent] for i in indices],
            self.rng,
        )

    # ------------------------------------------------------------------ one iteration's pieces
    def branch_points(self, policy: TrainablePolicy, num_episodes: int) -> RootEpisodes:
        """Play ``num_episodes`` root episodes of (π^t, π^t); return the distinct rows met.

        Returns:
            The first visit of every distinct player_0 row, each root episode's stage-1 point
            (for fresh opponent rollouts) and the rows each root episode visited.
        """
        _, points = self.play(
            [None] * num_episodes, [policy] * num_episodes, [policy] * num_episodes, record=True
        )
        seen: set[Hashable] = set()
        branches = []
        visited = []
        for root, trajectory in enumerate(points):
            keys = [policy.key(p.observations["player_0"], p.infos["player_0"]) for p in trajectory]
            visited.append(keys)
            for key, point in zip(keys, trajectory, strict=True):
                if key not in seen:
                    seen.add(key)
                    branches.append(BranchPoint(key=key, point=point, root=root))
        return RootEpisodes(branches, [trajectory[0] for trajectory in points], visited)

    def opponent_points(
        self, root: SavedPoint, opponent: Policy, num: int
    ) -> list[list[SavedPoint]]:
        """Roll ``num`` independent episodes of ``opponent`` from ``root``'s s1; keep every stage.

        player_1's state at stage h of rollout k is a draw from d_h^{opponent}(·|s1), independent
        of everything else; these are spliced under player_0's branch states (module docstring).
        """
        return self.opponent_points_many([root], opponent, num)[0]

    def opponent_points_many(
        self, roots: Sequence[SavedPoint], opponent: Policy, num: int
    ) -> list[list[list[SavedPoint]]]:
        """:meth:`opponent_points` for several roots in one batch: ``points[r][k][h − 1]``."""
        starts = [root for root in roots for _ in range(num)]
        _, points = self.play(
            starts, [opponent] * len(starts), [opponent] * len(starts), record=True
        )
        return [points[r * num : (r + 1) * num] for r in range(len(roots))]

    def continuation_returns(
        self, requests: Sequence[ContinuationRequest], policy: Policy, num: int
    ) -> list[np.ndarray]:
        """Return, per request, G of shape (len(actions), K): returns from stage h after forcing a.

        Continuation (a, k) of a request starts at its branch point with player_1 moved to
        ``opponent_points[k]`` at the same stage (when h > 1), plays a, then player_0 follows
        ``policy`` and player_1 the request's opponent to the end. All requests run as one batch
        (one batched preference call per stage).
        """
        starts: list[SavedPoint] = []
        firsts: list[Any] = []
        opponents: list[Policy] = []
        for request in requests:
            h = request.branch.point.stage
            if h > 1:
                points = request.opponent_points
                if points is None or len(points) < num:
                    raise ValueError(f"need {num} opponent rollouts for a stage-{h} branch point")
                if any(len(trajectory) < h for trajectory in points[:num]):
                    raise ValueError(
                        f"an opponent rollout ended before stage {h}; episodes that end early "
                        "cannot be branched with fresh opponent states"
                    )
                starts_k = [splice(request.branch.point, points[k][h - 1]) for k in range(num)]
            else:
                starts_k = [request.branch.point] * num
            for action in request.actions:
                starts.extend(starts_k)
                firsts.extend([action] * num)
                opponents.extend([request.opponent] * num)
        returns, _ = self.play(starts, [policy] * len(starts), opponents, first_actions=firsts)
        out = []
        offset = 0
        for request in requests:
            size = len(request.actions) * num
            out.append(returns[offset : offset + size].reshape(len(request.actions), num))
            offset += size
        return out


@dataclass(frozen=True)
class SamplerState:
    """What :meth:`BranchingSampler.save_state` saves (opaque to callers)."""

    rng_state: dict[str, Any]
    pool: tuple[tuple[PreferenceGameEnv, tuple[Any, list[str]], tuple[Any, Any, Any]], ...]
    num_env_steps: int
    num_preference_queries: int


@dataclass(frozen=True)
class RootEpisodes:
    """What the root episodes of one iteration found.

    Attributes:
        branches: The first visit of every distinct player_0 row.
        roots: Each root episode's stage-1 point.
        visited: Per root episode, the row keys player_0 passed through, in stage order.
    """

    branches: list[BranchPoint]
    roots: list[SavedPoint]
    visited: list[list[RowKey]]


@dataclass(frozen=True)
class ContinuationRequest:
    """K continuations per action at one branch point against one opponent policy.

    Attributes:
        branch: Where to branch (player_0 at S_h = s).
        actions: The forced stage-h actions of player_0.
        opponent: player_1's policy (π^t, or π^{t−1} for OMPO's optimistic term).
        opponent_points: For h > 1, K rollouts of ``opponent`` from the branch's s1
            (:meth:`BranchingSampler.opponent_points`); ``None`` at h = 1.
    """

    branch: BranchPoint
    actions: tuple[Any, ...]
    opponent: Policy
    opponent_points: list[list[SavedPoint]] | None
