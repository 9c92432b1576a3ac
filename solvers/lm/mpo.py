r"""MPO for language models (the paper's Alg. 4, practical version).

Per iteration, at every state s of the sampled trajectories (:mod:`solvers.lm.step_level`)::

    Q̂^t(s, a) = Q̂(s, a; π^t)                                              (Eq. 4)
    π^{t+1} = argmin_π Σ_{(s,a)} (log π(a|s) − log π^t(a|s) − β (Q̂^t(s, a) − c_h))²

with the centring constant c_h of the estimator (:mod:`solvers.lm.losses`). One deliberate
difference from Eq. 4 with the trajectory estimator: the paper continues the opponent from
player_0's own state S_h ("S' and S have the same law"), exact only at h = 1; here player_1
starts from an independent S'_h ~ d_h^{π^t}(·|s1), so E[Q̂] is the Q of Alg. 3 at every stage.
"""

from __future__ import annotations

from dataclasses import dataclass

from solvers.lm.ompo import _weighted_mean
from solvers.lm.records import Record
from solvers.lm.step_level import StepLevelConfig, StepLevelSolver, StepRollouts

__all__ = ["LMMPO", "LMMPOConfig"]


@dataclass(frozen=True)
class LMMPOConfig(StepLevelConfig):
    """Settings of LM MPO (Alg. 4): those of every step-level solver."""


class LMMPO(StepLevelSolver):
    """MPO, Alg. 4: squared log-ratio regression on Q̂(π^t) (module docstring)."""

    config_class = LMMPOConfig
    config: LMMPOConfig

    def judge(self, rollouts: StepRollouts) -> list[Record]:
        """Q̂^t = Q̂(π^t) at every pooled state → regression records."""
        samples = self.pooled(rollouts.groups)
        if self.config.estimator == "one_step":
            self.one_step_win_rates(samples)
        else:
            self.continuation_values(samples, rollouts.roots, self._policy)
        records = self.regression_records(samples, optimistic=False)
        self.stage_metrics["q_hat_mean"] = _weighted_mean(records)
        return records
