"""GeneralPreferenceOracle on tiny preference-embedding models built here.

P is recomputed from our own forward of the backbone; a hand-set head puts rock, paper and
scissors 120° apart in one rotation plane, and the package's diagnostics see the cycle that a
Bradley–Terry reward model on the same answers cannot have.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("scipy")

from safetensors.torch import load_file, save_file  # noqa: E402
from transformers import AutoModel, AutoTokenizer  # noqa: E402

from ompo_envs.oracles import (  # noqa: E402
    GeneralPreferenceOracle,
    OracleError,
    RewardModelOracle,
    bradley_terry_fit,
    cyclic_triple_rate,
    preference_matrix,
)
from ompo_envs.oracles import general_preference as gpm  # noqa: E402
from ompo_envs.oracles.tiny_models import (  # noqa: E402
    build_tiny_general_preference_model,
    build_tiny_reward_model,
)

CTX = [{"role": "user", "content": "Rock, paper or scissors? Pick one."}]
CTX2 = [
    {"role": "user", "content": "What is the capital of France?"},
    {"role": "assistant", "content": "Paris."},
    {"role": "user", "content": "Sure?"},
]
ANSWERS = ["Paris.", "Lyon, I think.", "rock", "one two three", ""]
RPS = ["I choose rock.", "Paper.", "scissors"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return build_tiny_general_preference_model(
        tmp_path_factory.mktemp("tiny_gpm"), value_head_dim=4, prompt_head=True
    )


@pytest.fixture(scope="module")
def oracle(model_dir):
    return GeneralPreferenceOracle.from_pretrained(model_dir, temperature=0.2, batch_size=3)


def last_hidden(backbone, tokenizer, messages):
    """Our own forward: the last hidden state at the chat-templated conversation's last token."""
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=False)
    ids = tokenizer.encode(text, add_special_tokens=False)
    with torch.no_grad():
        return backbone(torch.tensor([ids])).last_hidden_state[0, -1].double().numpy()


def test_preference_score_is_the_skew_symmetric_form():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(5, 6)), rng.normal(size=(5, 6))
    lam = rng.uniform(size=(5, 3))
    for i in range(5):
        r = gpm.skew_symmetric_operator(lam[i])
        np.testing.assert_array_equal(r.T, -r)
        expected = (r @ a[i]) @ b[i]
        assert gpm.preference_scores(a[i : i + 1], b[i : i + 1], lam[i : i + 1])[0] == (
            pytest.approx(expected, abs=1e-12)
        )
    # by hand: e₁ rotated by J is e₂, so s(e₁ ≻ e₂) = 1 and s(e₂ ≻ e₁) = −1
    e1, e2 = np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])
    assert gpm.preference_scores(e1, e2)[0] == 1.0
    assert gpm.preference_scores(e2, e1)[0] == -1.0
    np.testing.assert_array_equal(
        gpm.preference_scores(a, b, lam), -gpm.preference_scores(b, a, lam)
    )
    with pytest.raises(ValueError, match=r"\(n, 2k\)"):
        gpm.preference_scores(a[:, :5], b[:, :5])


def test_probabilities_from_our_own_forward(oracle, model_dir):
    backbone = AutoModel.from_pretrained(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    tensors = load_file(model_dir / "model.safetensors")
    w_v = tensors["value_head.weight"].double().numpy()
    w_p = tensors["prompt_head.weight"].double().numpy()

    def v(context, answer):
        h = last_hidden(backbone, tokenizer, [*context, {"role": "assistant", "content": answer}])
        return w_v @ h / np.linalg.norm(w_v @ h)

    def lam(context):
        logits = w_p @ last_hidden(backbone, tokenizer, context)
        return np.exp(logits) / np.exp(logits).sum()

    pairs = [(c, a, b) for c in (CTX, CTX2) for a, b in itertools.permutations(ANSWERS, 2)]
    expected = []
    for c, a, b in pairs:
        va, vb, scale = v(c, a), v(c, b), lam(c)
        s = sum(
            scale[i] * (va[2 * i] * vb[2 * i + 1] - va[2 * i + 1] * vb[2 * i]) for i in range(2)
        )
        expected.append(1 / (1 + np.exp(-s / 0.2)))
    got = oracle.compare(*(list(column) for column in zip(*pairs, strict=True)))
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert np.ptp(got) > 0.2  # the random model does discriminate
    np.testing.assert_allclose(oracle.embed([CTX2], ["rock"])[0], v(CTX2, "rock"), atol=1e-5)
    np.testing.assert_allclose(oracle.scales([CTX2])[0], lam(CTX2), atol=1e-5)


def test_antisymmetry_and_diagonal(oracle):
    pairs = list(itertools.product(ANSWERS, repeat=2))
    a, b = [p[0] for p in pairs], [p[1] for p in pairs]
    p_ab = oracle.compare([CTX] * len(pairs), a, b)
    p_ba = oracle.compare([CTX] * len(pairs), b, a)
    np.testing.assert_allclose(p_ab + p_ba, 1.0, atol=1e-12)
    assert all(p == 0.5 for p, x, y in zip(p_ab, a, b, strict=True) if x == y)


def test_each_answer_and_context_is_embedded_once_per_call(oracle):
    rows: list[int] = []

    def hook(module, args, kwargs):
        rows.append(int(kwargs["input_ids"].shape[0]))

    handle = oracle.backbone.register_forward_pre_hook(hook, with_kwargs=True)
    try:
        pairs = [(c, a, b) for c in (CTX, CTX2) for a, b in itertools.permutations(ANSWERS, 2)]
        oracle.compare(*(list(column) for column in zip(*pairs, strict=True)))
    finally:
        handle.remove()
    assert sum(rows) == 2 * len(ANSWERS) + 2  # 10 states + 2 contexts for the scales, not 160
    assert max(rows) <= 3


def test_rock_paper_scissors_cycle_that_bradley_terry_cannot_fit(oracle, tmp_path):
    # Solve for a 2-row head that maps the three answers' hidden states to unit vectors 120°
    # apart: s(a ≻ b) = sin(θ_b − θ_a), so paper at −120° beats rock at 0°, and so on.
    hidden = np.stack(
        [
            last_hidden(
                oracle.backbone, oracle.tokenizer, [*CTX, {"role": "assistant", "content": y}]
            )
            for y in RPS
        ],
        axis=1,
    )
    angles = np.deg2rad([0.0, -120.0, 120.0])  # rock, paper, scissors
    targets = np.stack([np.cos(angles), np.sin(angles)])
    head = targets @ np.linalg.pinv(hidden)
    cyclic = GeneralPreferenceOracle(oracle.backbone, oracle.tokenizer, head, temperature=0.1)
    np.testing.assert_allclose(cyclic.embed([CTX] * 3, RPS), targets.T, atol=1e-4)

    matrix = preference_matrix(cyclic, CTX, RPS)
    rock, paper, scissors = 0, 1, 2
    assert matrix[paper, rock] > 0.99 and matrix[scissors, paper] > 0.99
    assert matrix[rock, scissors] > 0.99
    assert cyclic_triple_rate(matrix) == 1.0
    fit = bradley_terry_fit(matrix)
    assert fit.max_abs_residual > 0.49  # the best BT model says ½ everywhere
    np.testing.assert_allclose(fit.fitted, 0.5, atol=1e-6)

    reward = RewardModelOracle.from_pretrained(build_tiny_reward_model(tmp_path / "rm"))
    bt_matrix = preference_matrix(reward, CTX, RPS)
    assert cyclic_triple_rate(bt_matrix) == 0.0
    assert bradley_terry_fit(bt_matrix).max_abs_residual < 1e-4
    assert np.ptp(bt_matrix) > 0.1


def test_without_prompt_head_the_scales_are_one(tmp_path):
    folder = build_tiny_general_preference_model(tmp_path / "plain", value_head_dim=2)
    oracle = GeneralPreferenceOracle.from_pretrained(folder, normalize=False)
    assert oracle.embedding_dim == 2
    np.testing.assert_array_equal(oracle.scales([CTX, CTX2]), np.ones((2, 1)))
    v = oracle.embed([CTX, CTX], ["rock", "Paris."])
    s = v[0, 0] * v[1, 1] - v[0, 1] * v[1, 0]
    expected = 0.5 * (1 + np.tanh(s / 0.1 / 2))  # σ(s / τ), without overflow
    assert oracle.compare_one(CTX, "rock", "Paris.") == pytest.approx(expected, abs=1e-9)
    assert abs(np.linalg.norm(v[0]) - 1.0) > 1e-3  # not normalised


def test_format_errors(tmp_path, oracle):
    folder = build_tiny_general_preference_model(tmp_path / "g", value_head_dim=4)
    tensors = load_file(folder / "model.safetensors")
    del tensors["value_head.weight"]
    save_file(tensors, folder / "model.safetensors")
    with pytest.raises(ValueError, match=r"value_head\.weight"):
        GeneralPreferenceOracle.from_pretrained(folder)
    with pytest.raises(ValueError, match="not a local directory"):
        GeneralPreferenceOracle.from_pretrained(tmp_path / "missing")
    with pytest.raises(ValueError, match=r"no model\.safetensors"):
        GeneralPreferenceOracle.from_pretrained(tmp_path)
    hidden = oracle.backbone.config.hidden_size
    with pytest.raises(ValueError, match="2k even"):
        GeneralPreferenceOracle(oracle.backbone, oracle.tokenizer, np.ones((3, hidden)))
    with pytest.raises(ValueError, match="prompt_head must have shape"):
        GeneralPreferenceOracle(
            oracle.backbone, oracle.tokenizer, np.ones((4, hidden)), np.ones((3, hidden))
        )
    zero = GeneralPreferenceOracle(oracle.backbone, oracle.tokenizer, np.zeros((2, hidden)))
    with pytest.raises(OracleError, match="zero vector"):
        zero.compare_one(CTX, "rock", "paper")


def test_settings_are_checked_before_loading(tmp_path, monkeypatch):
    def no_load(*args, **kwargs):
        raise AssertionError("the model was loaded before the settings were checked")

    monkeypatch.setattr(gpm, "read_heads", no_load)
    monkeypatch.setattr(gpm, "load_pretrained", no_load)
    for settings, error, message in (
        ({"temperature": -1}, ValueError, "temperature"),
        ({"normalize": "yes"}, TypeError, "normalize"),
        ({"truncation": "middle"}, ValueError, "truncation"),
        ({"max_length": 0}, ValueError, "max_length"),
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"device": "no-such-device"}, ValueError, "device"),
        ({"dtype": "float8"}, ValueError, "dtype"),
        ({"tau": 0.1}, TypeError, "unknown"),
    ):
        with pytest.raises(error, match=message):
            GeneralPreferenceOracle.from_pretrained(tmp_path, **settings)


def test_sharded_weights_are_read_through_their_index(tmp_path, oracle, model_dir):
    import json
    import shutil

    folder = tmp_path / "sharded"
    shutil.copytree(model_dir, folder)
    tensors = load_file(folder / "model.safetensors")
    (folder / "model.safetensors").unlink()
    heads = {k: v for k, v in tensors.items() if k.endswith("_head.weight")}
    backbone = {k: v for k, v in tensors.items() if k not in heads}
    save_file(backbone, folder / "model-00001-of-00002.safetensors")
    save_file(heads, folder / "model-00002-of-00002.safetensors")
    weight_map = {k: "model-00001-of-00002.safetensors" for k in backbone}
    weight_map |= {k: "model-00002-of-00002.safetensors" for k in heads}
    (folder / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {}, "weight_map": weight_map})
    )
    sharded = GeneralPreferenceOracle.from_pretrained(folder, temperature=0.2)
    a, b = ANSWERS, ANSWERS[1:] + ANSWERS[:1]
    np.testing.assert_allclose(
        sharded.compare([CTX2] * 5, a, b), oracle.compare([CTX2] * 5, a, b), atol=1e-6
    )
