"""ompo_envs.plotting: what each helper draws, checked on the returned figure's artists."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ompo_envs.envs.gridworld import DEFAULT_LAYOUT, MOVES, render_grid, state_cells
from ompo_envs.plotting import (
    SIMPLEX_VERTICES,
    plot_exploitability,
    plot_gridworld,
    plot_preference_matrix,
    plot_simplex,
    simplex_coordinates,
)

matplotlib.use("Agg")
NUM_STATES = len(state_cells(DEFAULT_LAYOUT))


def _rgba(figure: Figure) -> np.ndarray:
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())


def test_simplex_coordinates_are_barycentric() -> None:
    np.testing.assert_allclose(simplex_coordinates(np.eye(3)), SIMPLEX_VERTICES)
    np.testing.assert_allclose(simplex_coordinates(np.full(3, 1 / 3)), [0.5, np.sqrt(3) / 6])
    # the midpoint of the edge between actions 0 and 1
    np.testing.assert_allclose(simplex_coordinates([0.5, 0.5, 0.0]), [0.5, 0.0])
    assert simplex_coordinates(np.full((4, 7, 3), 1 / 3)).shape == (4, 7, 2)


@pytest.mark.parametrize("bad", [[0.5, 0.5], [0.5, 0.6, 0.1], [-0.5, 1.0, 0.5], [np.nan, 0.5, 0.5]])
def test_simplex_coordinates_reject_non_distributions(bad) -> None:
    with pytest.raises(ValueError, match="probabilities"):
        simplex_coordinates(bad)


def test_plot_simplex_draws_each_trajectory_at_its_coordinates() -> None:
    rng = np.random.default_rng(0)
    paths = {"MPO": rng.dirichlet(np.ones(3), size=20), "OMPO": rng.dirichlet(np.ones(3), size=5)}
    figure = plot_simplex(
        paths, labels=("rock", "paper", "scissors"), points={"NE": np.full(3, 1 / 3)}
    )
    ax = figure.axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    for name, rows in paths.items():
        np.testing.assert_allclose(lines[name].get_xydata(), simplex_coordinates(rows))
    np.testing.assert_allclose(lines["NE"].get_xydata(), [[0.5, np.sqrt(3) / 6]])
    assert [t.get_text() for t in ax.texts] == ["rock", "paper", "scissors"]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["MPO", "OMPO", "NE"]
    assert _rgba(figure).shape[2] == 4  # it renders


def test_plot_simplex_draws_on_a_given_axes() -> None:
    figure = Figure()
    left, right = figure.subplots(1, 2)
    assert plot_simplex({"a": [[1, 0, 0], [0, 1, 0]]}, ax=right) is figure
    assert len(right.get_lines()) > 0 and len(left.get_lines()) == 0


def test_plot_simplex_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="labels"):
        plot_simplex({}, labels=("a", "b"))
    with pytest.raises(ValueError, match="shape"):
        plot_simplex({"a": np.ones((2, 4)) / 4})


def test_plot_gridworld_shows_the_map_policy_arrows_and_occupancy() -> None:
    policy = np.zeros((NUM_STATES, 5))
    policy[:, 0] = 1.0  # always up
    occupancy = np.zeros(NUM_STATES)
    occupancy[[3, 7]] = [0.75, 0.25]
    figure = plot_gridworld(policy=policy, occupancy=occupancy, positions=(3, 7))
    ax = figure.axes[0]
    np.testing.assert_array_equal(ax.images[0].get_array(), render_grid(positions=(3, 7)))
    (quiver,) = [c for c in ax.collections if isinstance(c, matplotlib.quiver.Quiver)]
    # two states have mass >= min_mass, four moving directions each; only "up" has length
    assert quiver.U.shape == (8,)
    cells = state_cells()
    np.testing.assert_allclose(np.column_stack([quiver.X, quiver.Y])[::4], cells[[3, 7]][:, ::-1])
    np.testing.assert_allclose(quiver.V.reshape(2, 4), [[-0.45, 0, 0, 0]] * 2)  # up = row − 1
    np.testing.assert_allclose(quiver.U, 0.0)
    discs = ax.collections[0]
    sizes = discs.get_sizes()
    assert sizes.shape == (NUM_STATES,) and sizes[3] == pytest.approx(3 * sizes[7])
    letters = sorted(t.get_text() for t in ax.texts)
    assert letters == sorted(c for row in DEFAULT_LAYOUT for c in row if c in "ABC")


def test_plot_gridworld_policy_without_occupancy_draws_every_state() -> None:
    policy = np.full((NUM_STATES, 5), 0.2)
    figure = plot_gridworld(policy=policy)
    (quiver,) = [c for c in figure.axes[0].collections if isinstance(c, matplotlib.quiver.Quiver)]
    assert quiver.U.shape == (4 * NUM_STATES,)
    lengths = np.hypot(quiver.U, quiver.V)
    np.testing.assert_allclose(lengths, 0.45 * 0.2)
    directions = np.column_stack([quiver.V, quiver.U])[:4] / lengths[:4, None]
    np.testing.assert_allclose(directions, MOVES[:4])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"policy": np.full((3, 5), 0.2)}, "policy must have shape"),
        ({"policy": np.full((NUM_STATES, 5), 0.3)}, "distribution"),
        ({"occupancy": np.ones(4)}, "occupancy"),
        ({"occupancy": -np.ones(NUM_STATES)}, "occupancy"),
    ],
)
def test_plot_gridworld_rejects_bad_arrays(kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        plot_gridworld(**kwargs)


def test_plot_exploitability_draws_log_curves() -> None:
    curves = {"OMPO": [0.5, 0.1, 0.01], "MPO": [0.5, 0.3, 0.2]}
    figure = plot_exploitability(curves, updates=[10, 20, 30], title="RPS")
    ax = figure.axes[0]
    assert ax.get_yscale() == "log"
    for line in ax.get_lines():
        np.testing.assert_allclose(line.get_xdata(), [10, 20, 30])
        np.testing.assert_allclose(line.get_ydata(), curves[line.get_label()])
    assert ax.get_title() == "RPS"
    linear = plot_exploitability({"x": [1.0, 2.0]}, log=False).axes[0]
    assert linear.get_yscale() == "linear"
    np.testing.assert_allclose(linear.get_lines()[0].get_xdata(), [1, 2])


@pytest.mark.parametrize(
    ("curves", "updates"), [({"a": []}, None), ({"a": [1.0, np.nan]}, None), ({"a": [1.0]}, [1, 2])]
)
def test_plot_exploitability_rejects_bad_curves(curves, updates) -> None:
    with pytest.raises(ValueError, match="curve"):
        plot_exploitability(curves, updates=updates)


def test_preference_heatmap_is_reexported() -> None:
    rps = np.array([[0.5, 0.0, 1.0], [1.0, 0.5, 0.0], [0.0, 1.0, 0.5]])
    figure = plot_preference_matrix(rps, ["rock", "paper", "scissors"])
    np.testing.assert_allclose(figure.axes[0].images[0].get_array(), rps)
