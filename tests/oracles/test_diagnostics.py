from __future__ import annotations

import numpy as np
import pytest

from ompo_envs.oracles import (
    AnnotatorMixtureOracle,
    BradleyTerryOracle,
    MatrixOracle,
    bradley_terry_fit,
    cyclic_triple_rate,
    plot_preference_matrix,
    preference_matrix,
)

CTX = [{"role": "user", "content": "Pick one."}]


class CountingOracle(BradleyTerryOracle):
    calls = 0

    def _preference_batch(self, contexts, a, b):
        type(self).calls += 1
        return super()._preference_batch(contexts, a, b)


def test_app_h_voters():
    oracle = AnnotatorMixtureOracle.paper_app_h_voters()
    p = preference_matrix(oracle, CTX, ["y1", "y2", "y3"])
    np.testing.assert_allclose(
        p, [[0.5, 2 / 3, 1 / 3], [1 / 3, 0.5, 2 / 3], [2 / 3, 1 / 3, 0.5]], atol=1e-12
    )
    assert cyclic_triple_rate(p) == 1.0
    fit = bradley_terry_fit(p)
    # by symmetry the best BT model is all-equal scores: it predicts ½ and misses by 1/6 everywhere
    np.testing.assert_allclose(fit.scores, 0.0, atol=1e-6)
    assert fit.max_abs_residual == pytest.approx(1 / 6, abs=1e-6)
    assert fit.mean_abs_residual == pytest.approx(1 / 6, abs=1e-6)
    assert fit.log_loss == pytest.approx(np.log(2), abs=1e-9)
    h = -(2 / 3 * np.log(2 / 3) + 1 / 3 * np.log(1 / 3))
    assert fit.entropy == pytest.approx(h, abs=1e-12)
    assert fit.excess_log_loss > 0.05


def test_bt_oracle_is_transitive_and_fits_exactly():
    scores = {"a": 1.3, "b": 0.2, "c": -0.4, "d": -1.1, "e": 0.9}
    oracle = CountingOracle(lambda ctx, y: scores[y], batch_size=100)
    CountingOracle.calls = 0
    p = preference_matrix(oracle, CTX, list(scores))
    assert CountingOracle.calls == 1  # one batched call
    assert cyclic_triple_rate(p) == 0.0
    fit = bradley_terry_fit(p)
    expected = np.array(list(scores.values()))
    np.testing.assert_allclose(fit.scores, expected - expected.mean(), atol=1e-5)
    assert fit.max_abs_residual < 1e-6
    assert fit.excess_log_loss == pytest.approx(0.0, abs=1e-9)


def test_cycle_rate_hand_counted():
    # 4 answers: 0 ≻ 1 ≻ 2 ≻ 0 is a cycle; 3 loses to all → 1 cyclic triple of 4
    w = np.array([[0, 1, 0, 1], [0, 0, 1, 1], [1, 0, 0, 1], [0, 0, 0, 0]], dtype=float)
    p = np.where(w == 1, 0.9, np.where(w.T == 1, 0.1, 0.5))
    assert cyclic_triple_rate(p) == pytest.approx(1 / 4)
    # ties break cycles
    rps = MatrixOracle([[0.5, 0.0, 1.0], [1.0, 0.5, 0.0], [0.0, 1.0, 0.5]], lambda a: int(a))
    assert cyclic_triple_rate(preference_matrix(rps, CTX, ["0", "1", "2"])) == 1.0
    assert cyclic_triple_rate(np.full((3, 3), 0.5)) == 0.0


def test_bad_matrices():
    with pytest.raises(ValueError, match="at least 3"):
        cyclic_triple_rate(np.full((2, 2), 0.5))
    with pytest.raises(ValueError, match="P \\+ Pᵀ = 1"):
        cyclic_triple_rate(np.full((3, 3), 0.7))
    with pytest.raises(ValueError, match="square"):
        bradley_terry_fit(np.full((2, 3), 0.5))
    with pytest.raises(TypeError, match="list of strings"):
        preference_matrix(AnnotatorMixtureOracle.paper_app_h_voters(), CTX, "y1")


def test_plot(tmp_path):
    p = preference_matrix(AnnotatorMixtureOracle.paper_app_h_voters(), CTX, ["y1", "y2", "y3"])
    path = tmp_path / "voters.png"
    figure = plot_preference_matrix(p, ["y1", "y2", "y3"], path)
    assert path.stat().st_size > 1000
    assert "cyclic triples 100%" in figure.axes[0].get_title()
    with pytest.raises(ValueError, match="labels"):
        plot_preference_matrix(p, ["y1"])
