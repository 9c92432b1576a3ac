"""Gridworld-v0 rendering: the rgb_array image shows the map and both players where they are."""

from __future__ import annotations

import numpy as np
import pytest

import ompo_envs
from ompo_envs.envs.gridworld import (
    DEFAULT_LAYOUT,
    FLOOR_COLOUR,
    PLAYER_COLOURS,
    REGION_COLOURS,
    WALL_COLOUR,
    render_grid,
    state_cells,
)

C = 32  # default cell_pixels


def _pixel(image: np.ndarray, row: int, column: int, dx: float = 0.5, dy: float = 0.5):
    """The colour at a point of cell (row, column), given as fractions of the cell."""
    return tuple(image[int((row + dy) * C), int((column + dx) * C)])


def test_render_modes_are_declared_and_each_returns_its_type() -> None:
    env = ompo_envs.make("Gridworld-v0")
    assert env.metadata["render_modes"] == ["ansi", "rgb_array"]
    assert env.render() is None  # render_mode=None
    for mode, kind in (("ansi", str), ("rgb_array", np.ndarray)):
        env = ompo_envs.make("Gridworld-v0", render_mode=mode)
        env.reset(seed=0)
        assert isinstance(env.render(), kind)
    with pytest.raises(ValueError, match="render_mode"):
        ompo_envs.make("Gridworld-v0", render_mode="human")


def test_rgb_array_is_the_map_with_both_players_on_their_cells() -> None:
    env = ompo_envs.make("Gridworld-v0", render_mode="rgb_array", slip=0.0)
    env.reset(seed=0)
    env.step({"player_0": 0, "player_1": 1})  # up, down from the start (2, 2)
    image = env.render()
    rows, columns = len(DEFAULT_LAYOUT), len(DEFAULT_LAYOUT[0])
    assert image.shape == (rows * C, columns * C, 3) and image.dtype == np.uint8
    np.testing.assert_array_equal(image, render_grid(positions=env.unwrapped.episode.states))
    # player_0 moved to (1, 2), player_1 to (3, 2): black disc left, white disc right
    assert _pixel(image, 1, 2, dx=0.25) == PLAYER_COLOURS[0]
    assert _pixel(image, 3, 2, dx=0.75) == PLAYER_COLOURS[1]
    assert _pixel(image, 1, 2, dx=0.75) == FLOOR_COLOUR  # no player_1 there
    assert _pixel(image, 2, 2, dx=0.25) == FLOOR_COLOUR  # nobody left on the start
    env.reset(seed=1)
    both = env.render()
    assert _pixel(both, 2, 2, dx=0.25) == PLAYER_COLOURS[0]
    assert _pixel(both, 2, 2, dx=0.75) == PLAYER_COLOURS[1]


def test_render_grid_colours_every_cell_by_its_kind() -> None:
    image = render_grid()
    for r, line in enumerate(DEFAULT_LAYOUT):
        for c, char in enumerate(line):
            expected = {"#": WALL_COLOUR, ".": FLOOR_COLOUR, "s": FLOOR_COLOUR}.get(
                char, REGION_COLOURS.get(char)
            )
            assert _pixel(image, r, c) == expected, (r, c, char)


def test_state_cells_is_the_games_numbering() -> None:
    cells = state_cells()
    game = ompo_envs.make("Gridworld-v0", slip=0.0).unwrapped.game
    # moving right from state s lands on the cell to its right when that is a state
    for s, (r, c) in enumerate(cells):
        target = np.flatnonzero(game.transitions[s, 3])
        assert len(target) == 1
        if c + 1 < len(DEFAULT_LAYOUT[0]) and DEFAULT_LAYOUT[r][c + 1] != "#":
            np.testing.assert_array_equal(cells[target[0]], (r, c + 1))
        else:
            assert target[0] == s


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"cell_pixels": 4}, "cell_pixels"),
        ({"positions": (0, 1, 2)}, "at most"),
        ({"positions": (99,)}, "not a state"),
    ],
)
def test_render_grid_rejects_bad_arguments(kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        render_grid(**kwargs)
