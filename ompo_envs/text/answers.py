r"""Final-answer extraction and normalisation for math reasoning (GSM8K, MATH, MATH500).

Three pure functions:

* :func:`extract_final_answer` finds the final answer a text *commits to*, in this order of
  precedence: the last ``\boxed{...}`` (or ``\fbox{...}``), else the last ``#### ...`` line
  (GSM8K's marker), else the last "final answer: ..." / "the answer is ..." phrase. It returns
  ``None`` when the text gives no final answer (an ordinary outcome in a chain of thought).
* :func:`normalize_answer` maps an answer string to a canonical form: it drops ``$``,
  ``\text{}`` wrappers, ``\left``/``\right``, spacing commands, degree signs, thousands
  separators, trailing units ("dollars", "cm", "inches", ...) and trailing periods, rewrites
  ``\dfrac``/``\tfrac`` as ``\frac`` and ``\frac12`` as ``\frac{1}{2}``, and writes plain
  numbers canonically ("3.50" → "3.5", "1,600" → "1600").
* :func:`answers_match` compares two answers: equal normal forms, or equal numeric values
  (integers, decimals, ``a/b``, ``\frac{a}{b}``, percentages) within a relative tolerance, or
  the same multiple-choice letter (``(C)`` = ``\text{(C)}`` = ``C``). There is no symbolic
  algebra: ``2`` and ``\sqrt{4}`` do not match.

All three are deterministic, do no I/O, never raise on a string, and take time linear in the
length of the text: model answers are long and may be adversarial, and a trainer parses millions
of them. The parts of the text whose length is unbounded (a line, a run of spaces, a brace
group, a run of digits) are scanned once by hand-written loops or by regular expressions with a
single quantifier; the regular expressions that remain only match bounded tokens
(``benchmarks/answer_parsing.py`` measures the cost per character). Numbers whose decimal
exponent exceeds :data:`MAX_EXPONENT` in size are compared as text, not evaluated.
``tests/text/test_answers.py`` checks that the functions recover the reference solutions' own
final answers on the shipped GSM8K, MATH and MATH500 data.
"""

from __future__ import annotations

import math
import numbers
import re
from fractions import Fraction

__all__ = [
    "MAX_EXPONENT",
    "answers_match",
    "extract_final_answer",
    "gsm8k_reference_answer",
    "last_boxed",
    "normalize_answer",
]

#: Largest |exponent| of a number written as ``1.5e300`` that is evaluated; a larger one would
#: need a gigantic integer (``1e999999999``), so such a number stays as written.
MAX_EXPONENT = 4300

_BOX_COMMANDS = ("\\boxed", "\\fbox")
_PHRASE_KEYWORD = re.compile(r"final answer|the answer", re.IGNORECASE)
_IS_OR_COLON = re.compile(r"is|:", re.IGNORECASE)
_SPACES = re.compile(r"\s*")
_BRACE = re.compile(r"[{}]")
_DIGIT = re.compile(r"\d")
# A number with its separators: what may follow the first digit of a value before its unit.
_NUMERIC_RUN = re.compile(r"[\d\s.,/}]*")
_TEXT_OPEN = re.compile(r"\\text\{\s*", re.IGNORECASE)
_BARE_BOX = re.compile(r"\s+([^\s$]+)")
# Letters as `[a-z]` matches them under IGNORECASE: ASCII, and four that fold onto ASCII.
_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ\u0130\u0131\u017f\u212a")

# Units and words that may trail a numeric answer ("18 dollars", "5 cm^2", "12 inches").
_UNIT_WORDS = (
    "dollars?",
    "cents?",
    "units?",
    "sq\\.?\\s*units?",
    "square\\s+(?:units?|feet|foot|inches|inch|meters?|centimeters?|cm|m|ft|in)",
    "cubic\\s+(?:units?|feet|inches|meters?|centimeters?|cm|m|ft|in)",
    "degrees?",
    "inches|inch",
    "feet|foot|ft",
    "yards?",
    "miles?",
    "meters?|metres?",
    "centimeters?|cm",
    "millimeters?|mm",
    "kilometers?|km",
    "hours?|hrs?|minutes?|mins?|seconds?|secs?|days?|weeks?|months?|years?",
    "mph|kph",
    "pounds?|lbs?|ounces?|oz|grams?|kg|kilograms?",
    "liters?|litres?|ml|gallons?|cups?",
    "people|persons?|students?|times|ways|points?|marbles?|eggs?|cookies?|apples?|cars?|books?",
    "percent",
)
# A unit, then up to the end: spaces, "}", "^2" / "^{3}", "}", a final period. Every space run is
# followed by a mark that is not a space, so no two quantifiers compete for the same characters.
_UNIT_TO_END = re.compile(
    "(?:" + "|".join(_UNIT_WORDS) + r")\s*(?:\}\s*)?(?:\^\{?[23]\}?\s*)?(?:\}\s*)?\.?$",
    re.IGNORECASE,
)
# The most letters one unit can span (each letter of a match uses a distinct letter of a pattern).
_MAX_UNIT_LETTERS = max(len(re.sub(r"\\[a-z]|[^a-z]", "", word)) for word in _UNIT_WORDS)

_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")
_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?$", re.IGNORECASE)
_SIMPLE_FRACTION = re.compile(r"^([+-]?)\\frac\{([+-]?[\d.]+)\}\{([+-]?[\d.]+)\}$")
_SLASH_FRACTION = re.compile(r"^([+-]?[\d.]+)\s*/\s*([+-]?[\d.]+)$")
_CHOICE = re.compile(r"^\(?([A-E])\)?$")


def _skip_spaces(text: str, start: int) -> int:
    """Return the end of the run of whitespace that starts at ``start``."""
    return _SPACES.match(text, start).end()  # type: ignore[union-attr]


def _check_text(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {type(value).__name__}")
    return value


# ---------------------------------------------------------------------- boxes
def last_boxed(text: str) -> str | None:
    r"""Return the content of the last ``\boxed{...}`` or ``\fbox{...}`` in ``text``.

    Braces are matched, so ``\boxed{\frac{1}{2}}`` gives ``\frac{1}{2}``; the brace-less form
    ``\boxed 5`` gives ``5``. An unclosed box is skipped for the one before it. Returns ``None``
    when ``text`` has no complete box.
    """
    _check_text(text, "text")
    found = {command: text.rfind(command) for command in _BOX_COMMANDS}
    # After a first unclosed box (whose scan reached the end of the text), every brace is
    # matched in one pass, so that a run of unclosed boxes costs linear time, not quadratic.
    closing: dict[int, int] | None = None
    while True:
        command = max(found, key=found.__getitem__)
        position = found[command]
        if position < 0:
            return None
        start = position + len(command)
        brace = _skip_spaces(text, start)
        if text.startswith("{", brace):
            if closing is None:
                close = _matching_brace(text, brace)
                if close is None:
                    closing = _closing_braces(text)
            else:
                close = closing.get(brace)
            if close is not None:
                return text[brace + 1 : close].strip()
        elif text.startswith(" ", start):  # "\boxed 5" (no braces): up to the next space or "$".
            match = _BARE_BOX.match(text, start)
            if match:
                return match.group(1)
        # An unclosed box: try the one before it.
        found[command] = text.rfind(command, 0, position)


def _matching_brace(text: str, start: int) -> int | None:
    """Return the position of the ``}`` that closes the ``{`` at ``start``, or ``None``."""
    depth = 0
    for match in _BRACE.finditer(text, start):
        depth += 1 if match.group() == "{" else -1
        if depth == 0:
            return match.start()
    return None


def _closing_braces(text: str) -> dict[int, int]:
    """Return ``{position of "{": position of its matching "}"}`` for every closed group."""
    open_positions: list[int] = []
    closing: dict[int, int] = {}
    for match in _BRACE.finditer(text):
        if match.group() == "{":
            open_positions.append(match.start())
        elif open_positions:
            closing[open_positions.pop()] = match.start()
    return closing


# ---------------------------------------------------------------------- marked lines
def _rest_of_line(text: str, start: int) -> tuple[str, int]:
    """Return the answer that starts at ``start`` and where the scan may go on.

    ``text[start]`` is not whitespace. The answer runs to the end of its line, without trailing
    whitespace. The scan goes on after the blank space that follows it, at its last newline
    (or at the end of the text).
    """
    line_end = text.find("\n", start)
    if line_end < 0:
        line_end = len(text)
    answer = text[start:line_end].rstrip()
    answer_end = start + len(answer)
    blank_end = _skip_spaces(text, answer_end)
    if blank_end == len(text):
        return answer, len(text)
    return answer, text.rfind("\n", answer_end, blank_end)


def _last_non_newline(text: str, start: int) -> int:
    """Return the position of the last character of ``text[start:]`` that is not a newline."""
    kept = text[start:].rstrip("\n")
    return start + len(kept) - 1 if kept else -1


def _last_hash_answer(text: str) -> str | None:
    """Return the answer of the last ``#### answer`` line (GSM8K's marker), or ``None``.

    Occurrences are read left to right and an answer may contain ``####`` (then that one is not
    a marker of its own). Between ``####`` and the answer there may be any whitespace, newlines
    included. When only whitespace follows the marker up to the end of the text, the answer is
    its last character that is not a newline.
    """
    last = None
    position = 0
    while (marker := text.find("####", position)) >= 0:
        start = _skip_spaces(text, marker + 4)
        if start < len(text):
            last, position = _rest_of_line(text, start)
            continue
        tail = _last_non_newline(text, marker + 4)
        if tail >= 0:
            return text[tail]
        position = marker + 1
    return last


def _last_phrase_answer(text: str) -> str | None:
    """Return the answer after the last "final answer: ..." / "the answer is ..." phrase.

    A keyword (either case), optional whitespace, "is" or ":", then optional whitespace, an
    optional colon and whitespace, and the answer to the end of its line. Occurrences are read
    left to right; an answer may contain another phrase.
    """
    last = None
    position = 0
    while (keyword := _PHRASE_KEYWORD.search(text, position)) is not None:
        verb = _IS_OR_COLON.match(text, _skip_spaces(text, keyword.end()))
        if verb is None:
            position = keyword.start() + 1
            continue
        after_verb = _skip_spaces(text, verb.end())
        colon = text.startswith(":", after_verb)
        start = _skip_spaces(text, after_verb + 1) if colon else after_verb
        if start < len(text):
            last, end = _rest_of_line(text, start)
            position = end + 1 if end < len(text) else end
            continue
        # Only whitespace (and at most one colon) is left: the answer is one character.
        tail = _last_non_newline(text, after_verb + 1 if colon else verb.end())
        if tail >= 0:
            return text[tail]
        if colon:
            return ":"
        position = keyword.start() + 1
    return last


def _drop_calculator_marks(text: str) -> str:
    """Remove GSM8K calculator marks ``<<48/2=24>>`` (from ``<<`` to a ``>>`` with no ``>`` inside).

    A ``<<`` whose first later ``>`` is not doubled is kept, as is everything after the last
    ``>``.
    """
    pieces = []
    kept_from = position = 0
    while (start := text.find("<<", position)) >= 0:
        close = text.find(">", start + 2)
        if close < 0:
            break
        if text.startswith(">>", close):
            pieces.append(text[kept_from:start])
            kept_from = position = close + 2
        else:
            position = close + 1
    pieces.append(text[kept_from:])
    return "".join(pieces)


def gsm8k_reference_answer(solution: str) -> str:
    """Return the gold answer of a GSM8K solution: the text after its last ``####``.

    Raises:
        TypeError: ``solution`` is not a string.
        ValueError: ``solution`` has no ``#### <answer>`` line.
    """
    answer = _last_hash_answer(_check_text(solution, "solution"))
    if answer is None:
        raise ValueError(
            f"a GSM8K solution must end with a '#### <answer>' line, got {solution[-80:]!r}"
        )
    return answer


def extract_final_answer(text: str) -> str | None:
    r"""Return the final answer that ``text`` commits to, or ``None`` if it gives none.

    Precedence: the last ``\boxed{...}``/``\fbox{...}``; else the last ``#### ...`` line; else the
    last "final answer: ..." / "the answer is ..." phrase (up to the end of its line, without a
    trailing period). GSM8K calculator marks ``<<...>>`` are ignored.
    """
    boxed = last_boxed(_check_text(text, "text"))
    if boxed is not None:
        return boxed
    text = _drop_calculator_marks(text)
    hashed = _last_hash_answer(text)
    if hashed is not None:
        return hashed
    phrase = _last_phrase_answer(text)
    if phrase is None:
        return None
    answer = phrase.strip().removesuffix(".").strip()
    inner = last_boxed(answer)
    return inner if inner is not None else answer


# ---------------------------------------------------------------------- normal forms
def normalize_answer(answer: str) -> str:
    """Return a canonical form of a final answer string (see the module docstring)."""
    s = _check_text(answer, "answer").strip()
    s = s.replace("\n", " ")
    # Display wrappers and spacing commands.
    s = s.replace("\\$", "").replace("$", "")
    s = re.sub(r"\\(?:left|right|big|Big|bigg|Bigg)(?![a-zA-Z])", "", s)
    s = re.sub(r"\\[,;:! ]", "", s)
    s = s.replace("\\displaystyle", "").replace("\\mathrm", "\\text").replace("\\mbox", "\\text")
    s = s.replace("\\textbf", "\\text")
    s = re.sub(r"\\(?:d|t)frac", r"\\frac", s)
    s = s.replace("^\\circ", "").replace("^{\\circ}", "").replace("°", "")
    s = s.replace("\\%", "").replace("%", "")
    s = s.strip().removesuffix(".").strip()
    s = _strip_trailing_unit(s)
    s = _unwrap_text_commands(s).strip()
    s = _drop_assignment(s)
    # \frac12 -> \frac{1}{2}; \frac1{2} -> \frac{1}{2}; \sqrt2 -> \sqrt{2}.
    s = re.sub(r"\\frac(\d)(\d)", r"\\frac{\1}{\2}", s)
    s = re.sub(r"\\frac(\d)\{", r"\\frac{\1}{", s)
    s = re.sub(r"\\frac\{([^{}]*)\}(\d)", r"\\frac{\1}{\2}", s)
    s = re.sub(r"\\sqrt(\d+)", r"\\sqrt{\1}", s)
    s = re.sub(r"\s+", "", s)
    if _THOUSANDS.match(s):
        s = s.replace(",", "")
    s = re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", s) if re.fullmatch(r"[\d,.]+", s) else s
    if _NUMBER.match(s):
        s = _canonical_number(s)
    choice = _CHOICE.match(s)
    if choice:
        s = choice.group(1)
    return s


def _strip_trailing_unit(s: str) -> str:
    r"""Drop a unit after a number ("18 dollars" → "18", "5 \text{ cm}^2" → "5").

    The value kept runs from the start to the end of the first run of digits and separators
    (spaces, ``.,/}``) that a unit follows up to the end of ``s``. ``s`` has no newline. What
    follows a value holds at most one digit (the "2" of "^2"), so only the runs that end after
    the second-to-last digit are checked.
    """
    digits = [match.start() for match in _DIGIT.finditer(s)]
    checked_after = digits[-2] if len(digits) >= 2 else -1
    position = 0
    while (digit := _DIGIT.search(s, position)) is not None:
        value_end = _NUMERIC_RUN.match(s, digit.end()).end()  # type: ignore[union-attr]
        if checked_after < value_end < len(s) and _is_unit_suffix(s, value_end):
            return s[:value_end].strip().rstrip("{").strip()
        position = value_end
    return s


def _is_unit_suffix(s: str, start: int) -> bool:
    r"""Whether ``s[start:]`` is an optional ``\command``, an optional ``\text{``, then a unit.

    ``s[start]`` is not whitespace. The command's letters may run into the unit (``\xcm``), so
    the unit may start at any of the last few letters of the command.
    """
    if _UNIT_TO_END.match(s, start) or _unit_after_text_open(s, start):
        return True
    if not s.startswith("\\", start):
        return False
    letters_end = start + 1
    while letters_end < len(s) and s[letters_end] in _LETTERS:
        letters_end += 1
    if letters_end == start + 1:
        return False
    first_split = max(start + 2, letters_end - _MAX_UNIT_LETTERS)
    if any(_UNIT_TO_END.match(s, split) for split in range(first_split, letters_end)):
        return True
    after = _skip_spaces(s, letters_end)
    return bool(_UNIT_TO_END.match(s, after)) or _unit_after_text_open(s, after)


def _unit_after_text_open(s: str, start: int) -> bool:
    opening = _TEXT_OPEN.match(s, start)
    return opening is not None and _UNIT_TO_END.match(s, opening.end()) is not None


def _unwrap_text_commands(s: str) -> str:
    r"""Replace every ``\text{content}`` whose content has no brace by the stripped content."""
    pieces = []
    kept_from = position = 0
    while (start := s.find("\\text{", position)) >= 0:
        brace = _BRACE.search(s, start + 6)
        if brace is None:
            break
        if brace.group() == "}":
            pieces += [s[kept_from:start], s[start + 6 : brace.start()].strip()]
            kept_from = position = brace.end()
        else:
            position = start + 1
    pieces.append(s[kept_from:])
    return "".join(pieces)


def _drop_assignment(s: str) -> str:
    """Drop a leading one-letter assignment, ``"x = 7"`` → ``"7"``, unless another ``=`` follows."""
    if not s[:1].isascii() or not s[:1].isalpha():
        return s
    equals = _skip_spaces(s, 1)
    if not s.startswith("=", equals) or "=" in s[equals + 1 :]:
        return s
    value = _skip_spaces(s, equals + 1)
    if value < len(s):
        return s[value:]
    return s[value - 1 :] if value > equals + 1 else s


def _decimal_value(s: str) -> Fraction | None:
    """Return the exact value of a string matching ``_NUMBER``, or ``None`` if too large to hold."""
    try:
        exponent = int(s.lower().partition("e")[2] or "0")
        if abs(exponent) > MAX_EXPONENT:
            return None
        return Fraction(s)
    except (ValueError, ZeroDivisionError):  # more digits than int() converts
        return None


def _canonical_number(s: str) -> str:
    value = _decimal_value(s)
    if value is None:
        return s
    try:
        if value.denominator == 1:
            return str(value.numerator)
        return f"{float(value):.12g}"
    except (ValueError, OverflowError):  # too many digits to print, or beyond float range
        return s


def _numeric_value(s: str) -> Fraction | None:
    """Return the exact value of a normalised plain number or simple fraction, else ``None``."""
    try:
        if _NUMBER.match(s):
            return _decimal_value(s)
        match = _SIMPLE_FRACTION.match(s)
        if match:
            sign = -1 if match.group(1) == "-" else 1
            return sign * Fraction(match.group(2)) / Fraction(match.group(3))
        match = _SLASH_FRACTION.match(s)
        if match:
            return Fraction(match.group(1)) / Fraction(match.group(2))
    except (ValueError, ZeroDivisionError):
        return None
    return None


def answers_match(predicted: str, reference: str, *, rel_tol: float = 1e-6) -> bool:
    """Return whether two final answers are the same (see the module docstring).

    Args:
        predicted: The answer a model gave, already extracted (e.g. by
            :func:`extract_final_answer`).
        reference: The gold answer.
        rel_tol: Relative tolerance for numeric comparison (a finite number >= 0).
    """
    if not isinstance(predicted, str) or not isinstance(reference, str):
        raise TypeError(
            f"answers must be strings, got {type(predicted).__name__} and "
            f"{type(reference).__name__}"
        )
    if (
        isinstance(rel_tol, bool)
        or not isinstance(rel_tol, numbers.Real)
        or not math.isfinite(rel_tol)
        or rel_tol < 0
    ):
        raise ValueError(f"rel_tol must be a finite number >= 0, got {rel_tol!r}")
    a, b = normalize_answer(predicted), normalize_answer(reference)
    if a == b:
        return True
    value_a, value_b = _numeric_value(a), _numeric_value(b)
    if value_a is not None and value_b is not None:
        if value_a == value_b:
            return True
        scale = max(abs(value_a), abs(value_b))
        try:
            return abs(float(value_a - value_b)) <= rel_tol * float(scale)
        except OverflowError:  # beyond float range: compare exactly
            return abs(value_a - value_b) <= Fraction(rel_tol) * scale
    return False
