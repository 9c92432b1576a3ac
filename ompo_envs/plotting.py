"""Pictures of games and learning: simplex trajectories, gridworld policies, exploitability curves.

Every function draws on a matplotlib :class:`~matplotlib.figure.Figure` without touching pyplot's
global state and returns it (in a notebook, the returned figure is displayed), or draws on the
``ax`` you pass (for subplots) and returns that axes' figure.

* :func:`simplex_coordinates`, :func:`plot_simplex` — policies over three actions as points of
  the probability simplex (a triangle); learning dynamics as trajectories in it.
* :func:`plot_gridworld` — the ``Gridworld-v0`` map with a policy (arrows) and an occupancy
  (discs) on top; :func:`ompo_envs.envs.gridworld.render_grid` is the image underneath.
* :func:`plot_exploitability` — exploitability against updates, on a log scale.
* :func:`plot_preference_matrix` — a preference matrix P(row ≻ column) as a heat map (from
  :mod:`ompo_envs.oracles.diagnostics`, re-exported here).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ompo_envs.envs.gridworld import (
    DEFAULT_LAYOUT,
    MOVE_NAMES,
    MOVES,
    REGIONS,
    render_grid,
    state_cells,
)
from ompo_envs.oracles.diagnostics import plot_preference_matrix

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "SIMPLEX_VERTICES",
    "plot_exploitability",
    "plot_gridworld",
    "plot_preference_matrix",
    "plot_simplex",
    "simplex_coordinates",
]

#: Corners of the probability simplex in the plane: action 0 bottom left, 1 bottom right, 2 top.
SIMPLEX_VERTICES = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, np.sqrt(3.0) / 2.0]])
_PROBABILITY_TOLERANCE = 1e-6


def _new_axes(ax: Axes | None, size: tuple[float, float]) -> Axes:
    """Return ``ax``, or the axes of a new pyplot-free figure of ``size`` inches."""
    if ax is not None:
        return ax
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=size)
    FigureCanvasAgg(figure)
    return figure.add_subplot()


def simplex_coordinates(probabilities: Any) -> np.ndarray:
    """Map distributions over three actions to points of the triangle :data:`SIMPLEX_VERTICES`.

    A distribution p = (p0, p1, p2) goes to p0 v0 + p1 v1 + p2 v2 (barycentric coordinates):
    a pure action to its corner, the uniform policy to the centroid (½, √3/6).

    Args:
        probabilities: Shape (..., 3), each row non-negative and summing to 1.

    Returns:
        Shape (..., 2): x and y of each point.

    Raises:
        ValueError: The last axis is not 3, or a row is not a probability distribution.
    """
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim == 0 or p.shape[-1] != 3:
        raise ValueError(f"probabilities must have shape (..., 3), got {p.shape}")
    if not np.all(np.isfinite(p)) or np.any(p < -_PROBABILITY_TOLERANCE):
        raise ValueError("probabilities must be finite and non-negative")
    if p.size and np.max(np.abs(p.sum(axis=-1) - 1.0)) > _PROBABILITY_TOLERANCE:
        raise ValueError("every row of probabilities must sum to 1")
    return p @ SIMPLEX_VERTICES


def plot_simplex(
    trajectories: Mapping[str, Any],
    *,
    labels: Sequence[str] = ("a0", "a1", "a2"),
    points: Mapping[str, Any] | None = None,
    ax: Axes | None = None,
    title: str | None = None,
) -> Figure:
    """Draw policies over three actions as trajectories in the probability simplex.

    Each trajectory is one line (in order of the rows), with a circle at its first point and a
    square at its last, so you can read where learning started and where it went.

    Args:
        trajectories: ``{name: array (T, 3)}``, e.g. a solver's ``policy[0, 0, 0]`` after every
            update; the name goes in the legend.
        labels: Names of the three actions, written at the corners.
        points: Optional ``{name: array (3,)}`` drawn as stars, e.g. the Nash equilibrium.
        ax: Axes to draw on; a new figure if None.
        title: Optional axes title.

    Returns:
        The figure; each trajectory is the axes line labelled with its name, its data the
        :func:`simplex_coordinates` of the rows.
    """
    if len(labels) != 3:
        raise ValueError(f"labels must name the 3 actions, got {len(labels)}")
    ax = _new_axes(ax, (4.8, 4.4))
    corners = np.vstack([SIMPLEX_VERTICES, SIMPLEX_VERTICES[:1]])
    ax.plot(corners[:, 0], corners[:, 1], color="0.3", linewidth=1.0)
    offsets = np.array([[-0.04, -0.05], [0.04, -0.05], [0.0, 0.04]])
    alignments = ("right", "left", "center")
    for vertex, offset, label, align in zip(
        SIMPLEX_VERTICES, offsets, labels, alignments, strict=True
    ):
        ax.text(*(vertex + offset), label, ha=align, va="center")
    for name, rows in trajectories.items():
        xy = simplex_coordinates(rows)
        if xy.ndim != 2 or len(xy) == 0:
            raise ValueError(f"trajectory {name!r} must have shape (T, 3) with T >= 1")
        (line,) = ax.plot(xy[:, 0], xy[:, 1], linewidth=1.2, label=name)
        colour = line.get_color()
        ax.plot(*xy[0], marker="o", color=colour, markersize=6, linestyle="none")
        ax.plot(*xy[-1], marker="s", color=colour, markersize=6, linestyle="none")
    for name, point in (points or {}).items():
        xy = simplex_coordinates(point)
        ax.plot(*xy, marker="*", color="black", markersize=12, linestyle="none", label=name)
    ax.set_xlim(-0.12, 1.12)
    ax.set_ylim(-0.12, SIMPLEX_VERTICES[2, 1] + 0.1)
    ax.set_aspect("equal")
    ax.axis("off")
    if trajectories or points:
        ax.legend(loc="upper right", fontsize=8, frameon=False)
    if title is not None:
        ax.set_title(title)
    return ax.figure


def plot_gridworld(
    layout: tuple[str, ...] = DEFAULT_LAYOUT,
    *,
    policy: Any = None,
    occupancy: Any = None,
    positions: Sequence[int] = (),
    min_mass: float = 1e-3,
    ax: Axes | None = None,
    title: str | None = None,
) -> Figure:
    """Draw the ``Gridworld-v0`` map with a one-stage policy and/or state occupancy on it.

    The map is :func:`~ompo_envs.envs.gridworld.render_grid` (walls dark; regions A, B, C red,
    blue, green, each cell labelled with its letter). On top:

    * ``occupancy`` — a grey disc per state whose *area* is proportional to the state's mass
      (a disc filling the cell is mass 1);
    * ``policy`` — from each state an arrow per move (up, down, left, right) whose length is
      proportional to its probability (a full half-cell is probability 1) and a dot for
      "stay" whose area is proportional to its probability. With ``occupancy`` given, arrows are
      drawn only where the state's mass is at least ``min_mass`` (elsewhere the policy is never
      used).

    Args:
        layout: The map, as for :func:`~ompo_envs.envs.gridworld.gridworld_game`.
        policy: π_h(·|s) for one stage, shape (S, 5), e.g. ``solver.policy[0, h - 1]``.
        occupancy: d_h for one stage, shape (S,) (state mass) or (S, 5) (summed over moves).
        positions: The players' current states (as in ``render_mode="rgb_array"``).
        min_mass: See ``policy``.
        ax: Axes to draw on; a new figure if None.
        title: Optional axes title.

    Returns:
        The figure. The map is its first image; the arrows are one quiver (one arrow per
        drawn state and move).

    Raises:
        ValueError: ``policy`` or ``occupancy`` has the wrong shape, or ``policy`` has a row
            that is not a distribution.
    """
    cells = state_cells(layout)
    num_states, num_moves = len(cells), len(MOVES)
    mass = None
    if occupancy is not None:
        d = np.asarray(occupancy, dtype=np.float64)
        if d.shape == (num_states, num_moves):
            d = d.sum(axis=-1)
        if d.shape != (num_states,) or not np.all(np.isfinite(d)) or np.any(d < 0):
            raise ValueError(
                f"occupancy must be non-negative with shape ({num_states},) or "
                f"({num_states}, {num_moves}), got {np.shape(occupancy)}"
            )
        mass = d
    pi = None
    if policy is not None:
        pi = np.asarray(policy, dtype=np.float64)
        if pi.shape != (num_states, num_moves):
            raise ValueError(
                f"policy must have shape ({num_states}, {num_moves}) (one stage), got {pi.shape}"
            )
        if np.any(pi < 0) or np.max(np.abs(pi.sum(axis=-1) - 1.0)) > _PROBABILITY_TOLERANCE:
            raise ValueError("every row of policy must be a distribution over the 5 moves")

    rows, columns = len(layout), len(layout[0])
    ax = _new_axes(ax, (0.9 * columns + 0.6, 0.9 * rows + 0.4))
    ax.imshow(
        render_grid(layout, positions=tuple(positions)),
        extent=(-0.5, columns - 0.5, rows - 0.5, -0.5),
        interpolation="nearest",
    )
    for (row, column), char in zip(cells, (layout[r][c] for r, c in cells), strict=True):
        if char in REGIONS:
            ax.text(column - 0.42, row - 0.3, char, fontsize=7, color="0.15")
    if mass is not None:
        ax.scatter(
            cells[:, 1],
            cells[:, 0],
            s=mass * _cell_area_points(ax),
            color="0.25",
            alpha=0.45,
            linewidths=0,
        )
    if pi is not None:
        shown = np.ones(num_states, dtype=bool) if mass is None else mass >= min_mass
        stay = MOVE_NAMES.index("stay")
        moving = [a for a in range(num_moves) if a != stay]
        states = np.flatnonzero(shown)
        x = np.repeat(cells[states, 1], len(moving)).astype(np.float64)
        y = np.repeat(cells[states, 0], len(moving)).astype(np.float64)
        length = 0.45 * pi[np.ix_(states, moving)].ravel()
        u = length * np.tile(MOVES[moving, 1], len(states))
        v = length * np.tile(MOVES[moving, 0], len(states))
        ax.quiver(x, y, u, v, angles="xy", scale_units="xy", scale=1.0, color="black", width=0.012)
        ax.scatter(
            cells[states, 1],
            cells[states, 0],
            s=pi[states, stay] * 0.15 * _cell_area_points(ax),
            color="black",
            linewidths=0,
        )
    ax.set_xticks([])
    ax.set_yticks([])
    if title is not None:
        ax.set_title(title, fontsize=9)
    return ax.figure


def _cell_area_points(ax: Axes) -> float:
    """Area in points² of a disc whose diameter is one map cell (for ``scatter`` sizes)."""
    ax.apply_aspect()
    width_inches = ax.get_position().width * ax.figure.get_figwidth()
    columns = abs(ax.get_xlim()[1] - ax.get_xlim()[0])
    return float((72.0 * width_inches / columns) ** 2)


def plot_exploitability(
    curves: Mapping[str, Any],
    *,
    updates: Any = None,
    ax: Axes | None = None,
    title: str | None = None,
    log: bool = True,
) -> Figure:
    """Draw exploitability curves against the number of updates (log scale by default).

    Args:
        curves: ``{name: values}``, one exploitability per checkpoint, e.g.
            ``{"OMPO, last iterate": [...], "OMPO, average": [...]}``.
        updates: The x values shared by every curve (e.g. the checkpoints); 1, 2, … if None.
        ax: Axes to draw on; a new figure if None.
        title: Optional axes title.
        log: Log scale on the y axis (values ≤ 0, i.e. an exact equilibrium, are not drawn).

    Returns:
        The figure; each curve is the axes line labelled with its name.

    Raises:
        ValueError: A curve is empty, not finite, or its length differs from ``updates``.
    """
    ax = _new_axes(ax, (5.6, 3.6))
    for name, values in curves.items():
        y = np.asarray(values, dtype=np.float64)
        if y.ndim != 1 or len(y) == 0 or not np.all(np.isfinite(y)):
            raise ValueError(f"curve {name!r} must be a non-empty 1-D array of finite values")
        x = np.arange(1, len(y) + 1) if updates is None else np.asarray(updates)
        if x.shape != y.shape:
            raise ValueError(
                f"curve {name!r} has {len(y)} values but updates has {len(x)} (one per value)"
            )
        ax.plot(x, y, label=name, linewidth=1.4)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("updates")
    ax.set_ylabel("exploitability")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8, frameon=False)
    if title is not None:
        ax.set_title(title)
    return ax.figure
