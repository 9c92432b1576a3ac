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


# ---------------------------------------------------------------------------------- rendering
#: RGB colours of the map: wall, neutral floor, regions A, B, C, grid lines, start outline.
WALL_COLOUR = (64, 64, 64)
FLOOR_COLOUR = (236, 236, 236)
REGION_COLOURS = {"A": (228, 120, 104), "B": (104, 150, 228), "C": (118, 186, 112)}
GRID_LINE_COLOUR = (190, 190, 190)
START_COLOUR = (40, 40, 40)
#: Player disc colours: player_0 black (left half of its cell), player_1 white (right half).
PLAYER_COLOURS = ((0, 0, 0), (255, 255, 255))


def state_cells(layout: tuple[str, ...] = DEFAULT_LAYOUT) -> np.ndarray:
    """Return the (row, column) of every state, shape (S, 2): non-wall cells in row-major order.

    This is the state numbering of :func:`gridworld_game`: state ``s`` is the cell
    ``state_cells(layout)[s]``.
    """
    return np.argwhere(np.array([list(row) for row in layout]) != "#")


def cell_colours(layout: tuple[str, ...] = DEFAULT_LAYOUT) -> np.ndarray:
    """Return the map's colours as an RGB ``uint8`` array of shape (rows, columns, 3)."""
    grid = np.array([list(row) for row in layout])
    colours = np.empty((*grid.shape, 3), dtype=np.uint8)
    colours[...] = FLOOR_COLOUR
    colours[grid == "#"] = WALL_COLOUR
    for region, colour in REGION_COLOURS.items():
        colours[grid == region] = colour
    return colours


def render_grid(
    layout: tuple[str, ...] = DEFAULT_LAYOUT,
    positions: tuple[int, ...] | list[int] = (),
    cell_pixels: int = 32,
) -> np.ndarray:
    """Draw the map and up to two players as an RGB ``uint8`` image (rows·c, columns·c, 3).

    Args:
        layout: The map (as for :func:`gridworld_game`).
        positions: The players' states (player_0's first); each is drawn as a disc, player_0
            black in the left half of its cell and player_1 white in the right half, so two
            players on one cell stay visible.
        cell_pixels: Side of one cell in pixels (≥ 8).

    Raises:
        ValueError: ``cell_pixels`` < 8, more than two positions, or a position that is not a
            state of ``layout``.
    """
    if isinstance(cell_pixels, bool) or not isinstance(cell_pixels, int) or cell_pixels < 8:
        raise ValueError(f"cell_pixels must be an integer >= 8, got {cell_pixels!r}")
    cells = state_cells(layout)
    positions = [int(p) for p in positions]
    if len(positions) > len(PLAYER_COLOURS):
        raise ValueError(f"at most {len(PLAYER_COLOURS)} positions, got {len(positions)}")
    for p in positions:
        if not 0 <= p < len(cells):
            raise ValueError(f"position {p} is not a state: the layout has {len(cells)} states")
    c = cell_pixels
    image = np.repeat(np.repeat(cell_colours(layout), c, axis=0), c, axis=1)
    image[::c, :] = GRID_LINE_COLOUR
    image[:, ::c] = GRID_LINE_COLOUR
    start = np.argwhere(np.array([list(row) for row in layout]) == "s")[0] * c
    border = max(1, c // 16)
    top, left = start
    image[top + border : top + 2 * border, left + border : left + c - border] = START_COLOUR
    image[top + c - 2 * border : top + c - border, left + border : left + c - border] = START_COLOUR
    image[top + border : top + c - border, left + border : left + 2 * border] = START_COLOUR
    image[top + border : top + c - border, left + c - 2 * border : left + c - border] = START_COLOUR
    yy, xx = np.mgrid[0:c, 0:c] + 0.5
    radius = c / 5
    for player, state in enumerate(positions):
        row, column = cells[state]
        centre_x = c * (0.25 + 0.5 * player)
        distance = np.sqrt((yy - c / 2) ** 2 + (xx - centre_x) ** 2)
        patch = image[row * c : (row + 1) * c, column * c : (column + 1) * c]
        patch[distance <= radius] = START_COLOUR  # outline, so a white disc shows on any floor
        patch[distance <= radius - border] = PLAYER_COLOURS[player]
    return image


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
    ``win_probability`` (0.9), ``region_probability`` (0.75), ``reward_mode``, ``render_mode``
    (None, ``"ansi"`` or ``"rgb_array"``).

    ## Rendering
    ``render_mode="rgb_array"``: ``render()`` returns the map as an RGB ``uint8`` image,
    ``cell_pixels`` (32) pixels per cell: walls dark, regions A/B/C red/blue/green, the start
    cell outlined, player_0 a black disc in the left half of its cell and player_1 a white disc
    (outlined) in the right half. ``"ansi"``: both players' cell indices as text.
    :func:`ompo_envs.plotting.plot_gridworld` draws a policy or an occupancy on the same map.

    ## Version History
    - v0: initial release. ``render_mode="rgb_array"`` was added later without changing the
      dynamics or the rewards, so the id stays v0.
    """

    metadata: ClassVar[dict[str, Any]] = {
        "name": "gridworld_v0",
        "render_modes": ["ansi", "rgb_array"],
    }

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

    def render(self) -> str | np.ndarray | None:
        """Return the map with both players as an image, or their cells as text (``"ansi"``)."""
        if self.render_mode != "rgb_array":
            return super().render()
        return render_grid(self.layout, positions=self.episode.states)
