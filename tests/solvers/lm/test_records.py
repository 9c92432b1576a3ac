"""Records: JSON round trip, summed log-probs of multi-turn responses, scoring."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from solvers.lm.records import (
    PairRecord,
    RegressionRecord,
    Segment,
    records_from_json,
    records_to_json,
    response_logprobs,
    score_records,
)

S1 = (("user", "Let's play rock-paper-scissors. Reply with your move: rock, paper or scissors."),)
S2 = (*S1, ("assistant", "rock"), ("user", "again"))


def test_json_round_trip():
    records = [
        RegressionRecord(
            response=(Segment(S1, "rock"), Segment(S2, "paper")),
            target=0.25,
            weight=3.0,
            ref_logprob=-1.5,
            q_hat=0.75,
        ),
        RegressionRecord(response=(Segment(S1, "x"),), target=-0.1),
        PairRecord(
            chosen=(Segment(S1, "paper"),),
            rejected=(Segment(S1, "rock"),),
            weight=2.0,
            ref_chosen=-2.0,
            ref_rejected=-0.5,
            margin=1.0,
        ),
    ]
    rows = json.loads(json.dumps(records_to_json(records)))
    back = records_from_json(rows)
    assert back[0] == records[0] and back[2] == records[2]
    assert back[1].response == records[1].response and math.isnan(back[1].q_hat)
    with pytest.raises(ValueError, match="kind"):
        records_from_json([{"kind": "ranking"}])


def test_response_logprob_is_the_sum_of_its_answers(rps_policy):
    response = (Segment(S1, "rock"), Segment(S2, "paper"))
    single = rps_policy.score([S1, S2], ["rock", "paper"])
    import torch

    with torch.no_grad():
        together = response_logprobs(rps_policy, [response, (Segment(S1, "rock"),)]).numpy()
    np.testing.assert_allclose(together, [single.sum(), single[0]], atol=1e-5)
    scored = score_records(
        rps_policy,
        [
            RegressionRecord(response=response, target=0.0),
            PairRecord(chosen=(Segment(S2, "paper"),), rejected=(Segment(S1, "rock"),)),
        ],
    )
    assert scored[0].ref_logprob == pytest.approx(single.sum(), abs=1e-5)
    assert scored[1].ref_chosen == pytest.approx(single[1], abs=1e-5)
    assert scored[1].ref_rejected == pytest.approx(single[0], abs=1e-5)
