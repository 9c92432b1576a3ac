"""``Gridworld-v0``: a slippery grid with walls whose regions beat each other in a cycle."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ompo_envs.envs.tabular_env import TabularGameEnv
from ompo_envs.tabular import TabularGame

#: The default map. ``#`` wall, ``s`` start, ``.`` neutral floor, ``A``/``B``/``C`` regions.
DEFAULT_LAYOUT = (
    "AA.BB",
    "A#.#B",
    "..s..",
    ".#.#.",
    ".CCC.",
)
#: Moves: up, down, left, right, stay (row, column offsets).
MOVES = np.array([(-1, 0), (1, 0), (0, -1), (0, 1), (0, 0)])
MOVE_NAMES = ("up", "down", "left", "right", "stay")
REGIONS = "ABC"


def region_preference(win_probability: float, region_probability: float) -> np.ndarray:
    """P(row region ≻ column region) over (neutral, A, B, C).

    A beats B, B beats C and C beats A with ``win_probability``; any region beats the neutral
    floor with ``region_probability``; equal regions tie at ½. The matrix is antisymmetric.
    """
    w, q = win_probability, region_probability
    return np.array(
        [
            [0.5, 1 - q, 1 - q, 1 - q],
            [q, 0.5, w, 1 - w],
            [q, 1 - w, 0.5, w],
            [q, w, 1 - w, 0.5],
        ]
    )


def gridworld_game(
    layout: tuple[str, ...] = DEFAULT_LAYOUT,
    horizon: int = 6,
    slip: float = 0.1,
    win_probability: float = 0.9,
    region_probability: float = 0.75,
    reward_mode: str = "intermediate",
) -> TabularGame:
    """Build the gridworld's exact model; the states are the non-wall cells in row-major order.

    A move goes to the neighbouring cell unless that is a wall or off the grid (then the player
    stays); with probability ``slip`` the intended move is replaced by a uniformly random one of
    the five moves. The reward compares the two players' current cells through their regions.
    """
    if not layout or len({len(row) for row in layout}) != 1:
        raise ValueError("layout must be a non-empty tuple of equal-length strings")
    unknown = set("".join(layout)) - set("#s." + REGIONS)
    if unknown:
        raise ValueError(f"layout has unknown characters {sorted(unknown)}; use '#', 's', '.', A-C")
    if "".join(layout).count("s") != 1:
        raise ValueError("layout must contain exactly one start cell 's'")
    for name, p in (
        ("slip", slip),
        ("win_probability", win_probability),
        ("region_probability", region_probability),
    ):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{name} must lie in [0, 1], got {p}")
    grid = np.array([list(row) for row in layout])
    cells = np.argwhere(grid != "#")
    index = -np.ones(grid.shape, dtype=np.int64)
    index[tuple(cells.T)] = np.arange(len(cells))
    num_states, num_actions = len(cells), len(MOVES)

    targets = cells[:, None, :] + MOVES[None, :, :]  # (S, A, 2)
    inside = np.all((targets >= 0) & (targets < grid.shape), axis=-1)
    clipped = np.clip(targets, 0, np.array(grid.shape) - 1)
    landing = np.where(inside, index[clipped[..., 0], clipped[..., 1]], -1)
    next_state = np.where(landing >= 0, landing, np.arange(num_states)[:, None])  # walls: stay

    intended = np.zeros((num_states, num_actions, num_states))
    np.put_along_axis(intended, next_state[..., None], 1.0, axis=-1)
    random_move = intended.mean(axis=1, keepdims=True)
    transitions = (1.0 - slip) * intended + slip * random_move

    labels = grid[tuple(cells.T)]
    region = np.array([0 if c in ".s" else 1 + REGIONS.index(c) for c in labels])
    preference = region_preference(win_probability, region_probability)[np.ix_(region, region)]
    reward = np.broadcast_to(
        preference[:, None, :, None], (num_states, num_actions, num_states, num_actions)
    ).copy()
    nu = np.zeros(num_states)
    nu[index[tuple(np.argwhere(grid == "s")[0])]] = 1.0
    return TabularGame(
        initial_distribution=nu,
        transitions=transitions,
        reward=reward,
        horizon=horizon,
        reward_mode=reward_mode,  # type: ignore[arg-type]
    )


class GridworldEnv(TabularGameEnv):
    """Two players walk a slippery grid; where they stand is judged by a cyclic rule on regions.

    ## Description
    Both players start on the same cell ``s`` of the map below and walk independently (each sees
    only its own cell). Three regions beat each other in a cycle — **A beats B, B beats C, C
    beats A** (each with ``win_probability``) — and any region beats the neutral floor (with
    ``region_probability``); equal regions tie. Because the rule is non-transitive, a player who
    always heads for one region is exploited by one heading for the region that beats it: the
    Nash equilibrium is mixed over routes. C is one step closer to the start than A and B, so the
    equilibrium is not simply uniform::

        AA.BB
        A#.#B
        ..s..
        .#.#.
        .CCC.

    ## Agents
    ``player_0`` and ``player_1``.

    ## Action Space
    ``Discrete(5)``: 0 up, 1 down, 2 left, 3 right, 4 stay. With probability ``slip`` the move
    is replaced by a uniformly random one; moving into a wall or off the grid stays put.

    ## Observation Space
    ``Discrete(S)``: the player's own cell (non-wall cells numbered in row-major order).

    ## Rewards
    player_0 gets P(region(s_h) ≻ region(s'_h)) at every stage (or at stage H only with
    ``reward_mode="terminal"``); player_1 gets 1 − that.

    ## Preference Model
    ``region_preference(win_probability, region_probability)`` between the players' regions.

    ## Starting State
    The cell marked ``s``.

    ## Episode End
    After ``horizon`` stages (default 6).

    ## Arguments
    ``layout`` (tuple of strings), ``horizon`` (default 6), ``slip`` (default 0.1),
    ``win_probability`` (0.9), ``region_probability`` (0.75), ``reward_mode``, ``render_mode``.

    ## Version History
    - v0: initial release.
    """

    metadata: ClassVar[dict[str, Any]] = {"name": "gridworld_v0", "render_modes": ["ansi"]}

    def __init__(
        self,
        layout: tuple[str, ...] = DEFAULT_LAYOUT,
        horizon: int = 6,
        slip: float = 0.1,
        win_probability: float = 0.9,
        region_probability: float = 0.75,
        reward_mode: str = "intermediate",
        render_mode: str | None = None,
    ) -> None:
        self.layout = tuple(layout)
        game = gridworld_game(
            self.layout, horizon, slip, win_probability, region_probability, reward_mode
        )
        super().__init__(game, render_mode=render_mode)
