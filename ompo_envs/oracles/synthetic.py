"""Synthetic preference oracles with known answers: matrices, Bradley-Terry, annotator mixtures.

These oracles need no model. They map each answer to a class (or a score) and read P(a ≻ b) off a
closed form, so games built on them have hand-computable values (Rock-Paper-Scissors, the
intransitive voters of the paper's App. H) and make good test beds for the solvers.

* :class:`MatrixOracle` — P(a ≻ b) = M[c(a), c(b)] for any antisymmetric matrix M over K classes.
* :class:`BradleyTerryOracle` — P(a ≻ b) = σ(s(x, a) − s(x, b)) for a score function s (transitive).
* :class:`AnnotatorMixtureOracle` — P(a ≻ b) = Σ_e w_e o_e(a ≻ b), a weighted mixture of
  deterministic transitive annotators; the mixture can be intransitive (App. H).

Answers that match no class under :class:`KeywordClassifier` fall into an extra *unrecognised*
class (index K); see :meth:`MatrixOracle.from_keywords` for how it is scored.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ompo_envs.core.validation import real_array
from ompo_envs.oracles.base import OracleError, PreferenceOracle, sigmoid

#: A score function s(context, answer) -> float; the context is a list of role/content dicts.
ScoreFunction = Callable[[list[dict[str, str]], str], float]

#: Tolerance on M + Mᵀ = 1 for a preference matrix.
ANTISYMMETRY_TOLERANCE = 1e-9


def validate_preference_matrix(matrix: Any, *, name: str = "matrix") -> np.ndarray:
    """Return ``matrix`` as a float64 (K, K) array with entries in [0, 1] and M + Mᵀ = 1.

    Args:
        matrix: A square array-like; ``matrix[i, j]`` is P(class i ≻ class j).
        name: The argument name used in error messages.

    Raises:
        TypeError: The matrix does not hold real numbers (strings, complex numbers, ...).
        ValueError: The matrix is not square, not finite, has entries outside [0, 1], or
            violates M + Mᵀ = 1 by more than 1e-9 (which also forces ½ on the diagonal).
    """
    array = real_array(matrix, name)
    if array.ndim != 2 or array.shape[0] != array.shape[1] or array.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty square (K, K) array, got shape {array.shape}")
    if np.any((array < 0.0) | (array > 1.0)):
        raise ValueError(f"{name} entries are probabilities and must lie in [0, 1]")
    violation = float(np.max(np.abs(array + array.T - 1.0)))
    if violation > ANTISYMMETRY_TOLERANCE:
        raise ValueError(
            f"{name} must satisfy M + Mᵀ = 1 (P(i ≻ j) + P(j ≻ i) = 1, ½ on the diagonal); the "
            f"largest violation is {violation:.3g}. Build it as M = ½ + (A − Aᵀ)/2 from any A."
        )
    return array


def _validate_names(names: Sequence[str] | None, count: int, default: str) -> tuple[str, ...]:
    if names is None:
        return tuple(f"{default}{i}" for i in range(count))
    if isinstance(names, str) or len(names) != count or not all(isinstance(n, str) for n in names):
        raise ValueError(f"names must be {count} strings, got {names!r}")
    return tuple(names)


class KeywordClassifier:
    """Map an answer to the first class whose keyword occurs in it, else to ``unrecognised``.

    Matching is case-insensitive and on whole words (``"rock"`` matches "I play Rock!" but not
    "rocket"); a keyword may be a phrase. Classes are tried in order, so the first class with a
    match wins even if a later class also matches. An answer with no match gets class index
    ``len(keywords)``, the *unrecognised* class.

    Args:
        keywords: One non-empty list of keywords per class, e.g. ``[["rock"], ["paper"],
            ["scissors", "scissor"]]``.
        names: Optional class names; defaults to each class's first keyword.
    """

    def __init__(
        self, keywords: Sequence[Sequence[str]], names: Sequence[str] | None = None
    ) -> None:
        if isinstance(keywords, str) or not isinstance(keywords, Sequence) or len(keywords) == 0:
            raise TypeError(f"keywords must be a non-empty list of keyword lists, got {keywords!r}")
        patterns = []
        for i, words in enumerate(keywords):
            if isinstance(words, str) or not isinstance(words, Sequence) or len(words) == 0:
                raise TypeError(
                    f"keywords[{i}] must be a non-empty list of strings (e.g. ['rock']), "
                    f"got {words!r}"
                )
            for word in words:
                if not isinstance(word, str) or not word.strip():
                    raise ValueError(f"keywords[{i}] holds an empty or non-string keyword {word!r}")
            alternatives = "|".join(re.escape(w.strip().lower()) for w in words)
            patterns.append(re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)"))
        self._patterns = patterns
        default_names = [words[0].strip().lower() for words in keywords]
        self.names: tuple[str, ...] = (
            tuple(default_names) if names is None else _validate_names(names, len(keywords), "")
        )
        self.unrecognised = len(keywords)

    def __call__(self, answer: str) -> int:
        """Return the class index of ``answer``; ``len(keywords)`` when no keyword matches."""
        if not isinstance(answer, str):
            raise TypeError(f"answer must be a string, got {type(answer).__name__}")
        text = answer.lower()
        for index, pattern in enumerate(self._patterns):
            if pattern.search(text):
                return index
        return self.unrecognised


def _with_unrecognised(matrix: np.ndarray, p_unrecognised_wins: float) -> np.ndarray:
    """Append a class that beats each recognised class with ``p_unrecognised_wins``."""
    p_unrecognised_wins = float(real_array(p_unrecognised_wins, "p_unrecognised_wins", shape=()))
    if not 0.0 <= p_unrecognised_wins <= 1.0:
        raise ValueError(f"p_unrecognised_wins must lie in [0, 1], got {p_unrecognised_wins!r}")
    k = matrix.shape[0]
    extended = np.full((k + 1, k + 1), 0.5)
    extended[:k, :k] = matrix
    extended[k, :k] = p_unrecognised_wins
    extended[:k, k] = 1.0 - p_unrecognised_wins
    return extended


class _ClassOracle(PreferenceOracle):
    """Shared part of the oracles that first map each answer to one of K classes."""

    def __init__(
        self,
        num_classes: int,
        classify: Callable[[str], int],
        classes: Sequence[str] | None,
        *,
        batch_size: int,
        cache_size: int,
    ) -> None:
        super().__init__(batch_size=batch_size, cache_size=cache_size)
        if not callable(classify):
            raise TypeError(
                f"classify must be a callable str -> class index, got {type(classify).__name__}"
            )
        self._classify = classify
        self.num_classes = num_classes
        self.classes: tuple[str, ...] = _validate_names(classes, num_classes, "class")

    def classify(self, answer: str) -> int:
        """Return the class index in ``range(num_classes)`` of ``answer``.

        Raises:
            TypeError: ``answer`` is not a string, or the classifier returned a non-integer.
            ValueError: The classifier returned an index outside ``range(num_classes)``.
        """
        if not isinstance(answer, str):
            raise TypeError(f"answer must be a string, got {type(answer).__name__}")
        index = self._classify(answer)
        if isinstance(index, bool) or not isinstance(index, int | np.integer):
            raise TypeError(f"classify({answer!r}) returned {index!r}; it must return an int")
        if not 0 <= index < self.num_classes:
            raise ValueError(
                f"classify({answer!r}) returned {index}, outside range({self.num_classes}); "
                "map every answer to a class (add an 'unrecognised' class if needed)"
            )
        return int(index)


class MatrixOracle(_ClassOracle):
    """P(a ≻ b | x) = M[c(a), c(b)] for an antisymmetric preference matrix M over answer classes.

    M is any (K, K) matrix with entries in [0, 1] and M + Mᵀ = 1 (so M[i, i] = ½); it need not be
    transitive. The context x is ignored. Rock-Paper-Scissors is
    ``M = [[.5, 0, 1], [1, .5, 0], [0, 1, .5]]`` with classes rock, paper, scissors.

    Args:
        matrix: The (K, K) preference matrix, ``matrix[i, j]`` = P(class i ≻ class j).
        classify: A callable mapping an answer string to a class index in ``range(K)``.
        classes: Optional class names (K strings), for display.
        batch_size: See :class:`~ompo_envs.oracles.base.PreferenceOracle`.
        cache_size: See :class:`~ompo_envs.oracles.base.PreferenceOracle`.

    Example:
        >>> rps = [[0.5, 0.0, 1.0], [1.0, 0.5, 0.0], [0.0, 1.0, 0.5]]
        >>> oracle = MatrixOracle.from_keywords(rps, [["rock"], ["paper"], ["scissors"]])
        >>> ctx = [{"role": "user", "content": "Rock, paper or scissors?"}]
        >>> oracle.compare_one(ctx, "Paper!", "I pick rock.")
        1.0
    """

    def __init__(
        self,
        matrix: Any,
        classify: Callable[[str], int],
        *,
        classes: Sequence[str] | None = None,
        batch_size: int = 1024,
        cache_size: int = 0,
    ) -> None:
        validated = validate_preference_matrix(matrix)
        super().__init__(
            validated.shape[0], classify, classes, batch_size=batch_size, cache_size=cache_size
        )
        self.matrix = validated
        self.matrix.setflags(write=False)
        #: Index of the unrecognised class when built by :meth:`from_keywords`, else None.
        self.unrecognised_class: int | None = None

    @classmethod
    def from_keywords(
        cls,
        matrix: Any,
        keywords: Sequence[Sequence[str]],
        *,
        classes: Sequence[str] | None = None,
        p_unrecognised_wins: float = 0.0,
        batch_size: int = 1024,
        cache_size: int = 0,
    ) -> MatrixOracle:
        """Build a MatrixOracle whose classes are recognised by keywords (see KeywordClassifier).

        The K keyword classes get one more class, *unrecognised* (index K), for answers that
        match no keyword. It beats every recognised class with probability
        ``p_unrecognised_wins`` (default 0: an answer that names no valid move loses to any valid
        one; pass 0.5 to make it neutral) and ties ½ with another unrecognised answer. So the
        oracle's matrix is (K + 1, K + 1) and ``num_classes`` is K + 1.

        Args:
            matrix: The (K, K) preference matrix over the keyword classes.
            keywords: K lists of keywords, one per class, in the matrix's order.
            classes: Optional K class names; defaults to each class's first keyword.
            p_unrecognised_wins: P(unrecognised ≻ recognised), in [0, 1].
            batch_size: See :class:`~ompo_envs.oracles.base.PreferenceOracle`.
            cache_size: See :class:`~ompo_envs.oracles.base.PreferenceOracle`.
        """
        validated = validate_preference_matrix(matrix)
        classifier = KeywordClassifier(keywords, classes)
        if len(classifier.names) != validated.shape[0]:
            raise ValueError(
                f"got {len(classifier.names)} keyword lists for a {validated.shape[0]}-class "
                "matrix; give exactly one keyword list per matrix row"
            )
        oracle = cls(
            _with_unrecognised(validated, p_unrecognised_wins),
            classifier,
            classes=[*classifier.names, "unrecognised"],
            batch_size=batch_size,
            cache_size=cache_size,
        )
        oracle.unrecognised_class = classifier.unrecognised
        return oracle

    def _preference_batch(
        self, contexts: list[list[dict[str, str]]], answers_a: list[str], answers_b: list[str]
    ) -> np.ndarray:
        rows = [self.classify(a) for a in answers_a]
        cols = [self.classify(b) for b in answers_b]
        return self.matrix[rows, cols]


class BradleyTerryOracle(PreferenceOracle):
    """P(a ≻ b | x) = σ(s(x, a) − s(x, b)), the Bradley-Terry model for a score function s.

    Every BT oracle is transitive: P(a ≻ b) > ½ and P(b ≻ c) > ½ imply P(a ≻ c) > ½. It is the
    preference model that reward-based RLHF and DPO assume, so it is the natural baseline against
    which the general (possibly intransitive) oracles are compared.

    Args:
        score: A callable ``score(context, answer) -> float``; the context is a list of
            ``{"role", "content"}`` dicts. Each distinct (context, answer) is scored once per batch.
        batch_size: See :class:`~ompo_envs.oracles.base.PreferenceOracle`.
        cache_size: See :class:`~ompo_envs.oracles.base.PreferenceOracle`.
    """

    def __init__(
        self, score: ScoreFunction, *, batch_size: int = 1024, cache_size: int = 0
    ) -> None:
        super().__init__(batch_size=batch_size, cache_size=cache_size)
        if not callable(score):
            raise TypeError(f"score must be a callable (context, answer) -> float, got {score!r}")
        self.score = score

    @classmethod
    def from_class_scores(
        cls,
        scores: Sequence[float],
        classify: Callable[[str], int],
        *,
        batch_size: int = 1024,
        cache_size: int = 0,
    ) -> BradleyTerryOracle:
        """Build a BT oracle with s(x, y) = scores[classify(y)], ignoring the context.

        Args:
            scores: One finite score per class.
            classify: Maps an answer to a class index in ``range(len(scores))`` (e.g. a
                :class:`KeywordClassifier` over ``len(scores) - 1`` keyword lists, whose last
                class is the unrecognised one).
            batch_size: See :class:`~ompo_envs.oracles.base.PreferenceOracle`.
            cache_size: See :class:`~ompo_envs.oracles.base.PreferenceOracle`.
        """
        values = real_array(scores, "scores")
        if values.ndim != 1 or values.size == 0:
            raise ValueError(
                f"scores must be a non-empty 1-D list of finite numbers, got {scores!r}"
            )
        if not callable(classify):
            raise TypeError(f"classify must be a callable str -> int, got {classify!r}")

        def score(context: list[dict[str, str]], answer: str) -> float:
            index = classify(answer)
            if isinstance(index, bool) or not isinstance(index, int | np.integer):
                raise TypeError(f"classify({answer!r}) returned {index!r}; it must return an int")
            if not 0 <= index < values.size:
                raise ValueError(
                    f"classify({answer!r}) returned {index}, outside range({values.size})"
                )
            return float(values[index])

        return cls(score, batch_size=batch_size, cache_size=cache_size)

    def _scores(self, contexts: list[list[dict[str, str]]], answers: list[str]) -> np.ndarray:
        return _score_all(self.score, contexts, answers)

    def _preference_batch(
        self, contexts: list[list[dict[str, str]]], answers_a: list[str], answers_b: list[str]
    ) -> np.ndarray:
        scores = self._scores(contexts + contexts, answers_a + answers_b)
        n = len(contexts)
        return sigmoid(scores[:n] - scores[n:])


def _score_all(
    score: ScoreFunction, contexts: list[list[dict[str, str]]], answers: list[str]
) -> np.ndarray:
    """Score each distinct (context, answer) once; raise on a non-finite or non-numeric score."""
    memo: dict[tuple[str, str], float] = {}
    out = np.empty(len(answers))
    for i, (context, answer) in enumerate(zip(contexts, answers, strict=True)):
        key = (repr(context), answer)
        if key not in memo:
            value = score(context, answer)
            try:
                value = float(value)
            except (TypeError, ValueError) as error:
                raise OracleError(f"score({answer!r}) returned {value!r}, not a number") from error
            if not np.isfinite(value):
                raise OracleError(f"score({answer!r}) returned the non-finite value {value}")
            memo[key] = value
        out[i] = memo[key]
    return out


class AnnotatorMixtureOracle(PreferenceOracle):
    """A weighted mixture of deterministic transitive annotators: P(a ≻ b) = Σ_e w_e o_e(a ≻ b).

    Annotator e has a score function s_e and prefers the higher-scored answer:
    o_e(a ≻ b) = 1 if s_e(a) > s_e(b), ½ if s_e(a) = s_e(b) (e.g. two answers of the same
    class), 0 otherwise. Each o_e is transitive, yet the mixture need not be: the paper's App. H
    ("Minimal example for the benefit of general preference") has three annotators whose average
    gives P(y1 ≻ y2) = P(y2 ≻ y3) = P(y3 ≻ y1) = 2/3, a cycle no Bradley-Terry model can fit. See
    :meth:`paper_app_h_voters`.

    Args:
        annotators: Score functions ``s_e(context, answer) -> float``, one per annotator.
        weights: Non-negative annotator weights, normalised to sum to 1; uniform if omitted.
        batch_size: See :class:`~ompo_envs.oracles.base.PreferenceOracle`.
        cache_size: See :class:`~ompo_envs.oracles.base.PreferenceOracle`.
    """

    def __init__(
        self,
        annotators: Sequence[ScoreFunction],
        weights: Sequence[float] | None = None,
        *,
        batch_size: int = 1024,
        cache_size: int = 0,
    ) -> None:
        super().__init__(batch_size=batch_size, cache_size=cache_size)
        if isinstance(annotators, str) or not isinstance(annotators, Sequence) or not annotators:
            raise TypeError(
                f"annotators must be a non-empty list of score functions, got {annotators!r}"
            )
        for i, annotator in enumerate(annotators):
            if not callable(annotator):
                raise TypeError(f"annotators[{i}] must be a callable (context, answer) -> float")
        self.annotators = tuple(annotators)
        self.weights = _normalise_weights(weights, len(self.annotators))
        #: (K, K) mixture matrix over classes when built from rankings, else None.
        self.class_matrix: np.ndarray | None = None
        #: Class names when built from rankings, else None.
        self.classes: tuple[str, ...] | None = None
        self._classifier: Callable[[str], int] | None = None

    @classmethod
    def from_rankings(
        cls,
        rankings: Sequence[Sequence[int]],
        classify: Callable[[str], int],
        weights: Sequence[float] | None = None,
        *,
        classes: Sequence[str] | None = None,
        batch_size: int = 1024,
        cache_size: int = 0,
    ) -> AnnotatorMixtureOracle:
        """Build the mixture from class rankings, one per annotator, best class first.

        Each ranking is a permutation of ``range(K)``. Annotator e gives class ``ranking[r]`` the
        score −r. An answer that ``classify`` maps to K (the unrecognised class of a
        :class:`KeywordClassifier` over K keyword lists) is ranked last by every annotator, so it
        loses to any recognised answer with P = 1 (the rule of :meth:`MatrixOracle.from_keywords`
        with its default) and ties ½ with another unrecognised answer.

        Args:
            rankings: One permutation of ``range(K)`` per annotator, best first.
            classify: Maps an answer to a class index in ``range(K + 1)``.
            weights: Non-negative annotator weights; uniform if omitted.
            classes: Optional K class names, for display.
            batch_size: See :class:`~ompo_envs.oracles.base.PreferenceOracle`.
            cache_size: See :class:`~ompo_envs.oracles.base.PreferenceOracle`.
        """
        if isinstance(rankings, str) or not isinstance(rankings, Sequence) or not rankings:
            raise TypeError(
                f"rankings must be a non-empty list of class rankings, got {rankings!r}"
            )
        k = len(rankings[0])
        score_tables = []
        for e, ranking in enumerate(rankings):
            if isinstance(ranking, str) or not all(
                isinstance(c, int | np.integer) and not isinstance(c, bool) for c in ranking
            ):
                raise TypeError(f"rankings[{e}] = {ranking!r} must be a list of class indices")
            if sorted(int(c) for c in ranking) != list(range(k)) or len(ranking) != k:
                raise ValueError(
                    f"rankings[{e}] = {list(ranking)!r} must be a permutation of range({k}) "
                    "(every class exactly once, best first)"
                )
            table = np.empty(k + 1)
            table[k] = -float(k)  # unrecognised: below every recognised class
            for position, cls_index in enumerate(ranking):
                table[int(cls_index)] = -float(position)
            score_tables.append(table)
        if not callable(classify):
            raise TypeError(f"classify must be a callable str -> int, got {classify!r}")

        def checked_class(answer: str) -> int:
            index = classify(answer)
            if isinstance(index, bool) or not isinstance(index, int | np.integer):
                raise TypeError(f"classify({answer!r}) returned {index!r}; it must return an int")
            if not 0 <= index <= k:
                raise ValueError(
                    f"classify({answer!r}) returned {index}, outside range({k + 1}) "
                    f"({k} ranked classes plus the unrecognised class {k})"
                )
            return int(index)

        def make_annotator(table: np.ndarray) -> ScoreFunction:
            return lambda context, answer: float(table[checked_class(answer)])

        oracle = cls(
            [make_annotator(t) for t in score_tables],
            weights,
            batch_size=batch_size,
            cache_size=cache_size,
        )
        tables = np.stack(score_tables)[:, :k]  # (E, K)
        wins = (tables[:, :, None] > tables[:, None, :]) + 0.5 * (
            tables[:, :, None] == tables[:, None, :]
        )
        oracle.class_matrix = np.einsum("e,eij->ij", oracle.weights, wins)
        oracle.class_matrix.setflags(write=False)
        oracle.classes = _validate_names(classes, k, "class")
        oracle._classifier = checked_class
        return oracle

    @classmethod
    def paper_app_h_voters(
        cls,
        keywords: Sequence[Sequence[str]] = (("y1",), ("y2",), ("y3",)),
        *,
        batch_size: int = 1024,
        cache_size: int = 0,
    ) -> AnnotatorMixtureOracle:
        """The three transitive voters of App. H whose average is the cycle y1 ≻ y2 ≻ y3 ≻ y1.

        From the paper's table: e1 ranks y3 > y1 > y2, e2 ranks y2 > y3 > y1 and e3 ranks
        y1 > y2 > y3, with equal weights. Then P(y1 ≻ y2) = P(y2 ≻ y3) = P(y3 ≻ y1) = 2/3.

        Args:
            keywords: Keyword lists recognising y1, y2, y3 in an answer (whole words, case
                insensitive); an answer naming none is unrecognised and loses to all three.
            batch_size: See :class:`~ompo_envs.oracles.base.PreferenceOracle`.
            cache_size: See :class:`~ompo_envs.oracles.base.PreferenceOracle`.
        """
        classifier = KeywordClassifier(keywords)
        if len(classifier.names) != 3:
            raise ValueError(f"App. H has three answers; got {len(classifier.names)} keyword lists")
        return cls.from_rankings(
            [[2, 0, 1], [1, 2, 0], [0, 1, 2]],
            classifier,
            classes=classifier.names,
            batch_size=batch_size,
            cache_size=cache_size,
        )

    def classify(self, answer: str) -> int:
        """Return the class index of ``answer`` (only for oracles built by :meth:`from_rankings`).

        Raises:
            TypeError: The oracle was built from score functions, so it has no classes.
        """
        if self._classifier is None:
            raise TypeError("this mixture was built from score functions and has no classes")
        if not isinstance(answer, str):
            raise TypeError(f"answer must be a string, got {type(answer).__name__}")
        return self._classifier(answer)

    def _preference_batch(
        self, contexts: list[list[dict[str, str]]], answers_a: list[str], answers_b: list[str]
    ) -> np.ndarray:
        n = len(contexts)
        out = np.zeros(n)
        for weight, annotator in zip(self.weights, self.annotators, strict=True):
            scores = _score_all(annotator, contexts + contexts, answers_a + answers_b)
            diff = scores[:n] - scores[n:]
            out += weight * np.where(diff > 0, 1.0, np.where(diff < 0, 0.0, 0.5))
        return np.clip(out, 0.0, 1.0)


def _normalise_weights(weights: Sequence[float] | None, count: int) -> np.ndarray:
    if weights is None:
        array = np.full(count, 1.0 / count)
    else:
        array = real_array(weights, "weights")
        if array.shape != (count,):
            raise ValueError(
                f"weights must hold one number per annotator ({count}), got {weights!r}"
            )
        if np.any(array < 0) or not np.any(array > 0):
            raise ValueError(f"weights must be finite, >= 0 and not all 0, got {weights!r}")
        array = array / array.max()  # first, so that the sum cannot overflow
        array = array / array.sum()
    array.setflags(write=False)
    return array
