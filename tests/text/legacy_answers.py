"""The regular-expression answer parser that issue 13 replaced, kept as the specification.

This is ``ompo_envs/text/answers.py`` as it was before the linear-time rewrite (commit dfc11f0),
unchanged below this docstring. Its regular expressions backtrack (super-linear time on long
answers), so it is only run on the shipped solutions and on short generated texts, where the
tests check that the new parser returns exactly what this one returns.
"""

from __future__ import annotations

import re
from fractions import Fraction

__all__ = [
    "answers_match",
    "extract_final_answer",
    "gsm8k_reference_answer",
    "last_boxed",
    "normalize_answer",
]

_BOX_COMMANDS = ("\\boxed", "\\fbox")
_HASH_ANSWER = re.compile(r"####\s*(.+?)\s*$", re.MULTILINE)
_PHRASE_ANSWER = re.compile(
    r"(?:final answer|the answer)\s*(?:is|:)\s*:?\s*(.+?)\s*(?:\n|$)", re.IGNORECASE
)
_CALCULATOR_MARK = re.compile(r"<<[^>]*>>")

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
_TRAILING_UNIT = re.compile(
    r"^(?P<value>.*?\d[\d\s.,/}]*)\s*(?:\\[a-z]+\s*)?(?:\\text\{\s*)?(?:"
    + "|".join(_UNIT_WORDS)
    + r")\s*\}?\s*(?:\^\{?[23]\}?)?\s*\}?\s*\.?$",
    re.IGNORECASE,
)
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")
_NUMBER = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?$", re.IGNORECASE)
_SIMPLE_FRACTION = re.compile(r"^([+-]?)\\frac\{([+-]?[\d.]+)\}\{([+-]?[\d.]+)\}$")
_SLASH_FRACTION = re.compile(r"^([+-]?[\d.]+)\s*/\s*([+-]?[\d.]+)$")
_CHOICE = re.compile(r"^\(?([A-E])\)?$")


def last_boxed(text: str) -> str | None:
    r"""Return the content of the last ``\boxed{...}`` or ``\fbox{...}`` in ``text``.

    Braces are matched, so ``\boxed{\frac{1}{2}}`` gives ``\frac{1}{2}``; the brace-less form
    ``\boxed 5`` gives ``5``. Returns ``None`` when ``text`` has no complete box.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a string, got {type(text).__name__}")
    best_start = -1
    best_command = ""
    for command in _BOX_COMMANDS:
        position = text.rfind(command)
        if position > best_start:
            best_start, best_command = position, command
    while best_start >= 0:
        content = _box_content(text, best_start + len(best_command))
        if content is not None:
            return content
        # An unclosed box: try the one before it.
        earlier = [text.rfind(command, 0, best_start) for command in _BOX_COMMANDS]
        best_start = max(earlier)
        best_command = _BOX_COMMANDS[earlier.index(best_start)]
    return None


def _box_content(text: str, start: int) -> str | None:
    rest = text[start:]
    stripped = rest.lstrip()
    if stripped.startswith("{"):
        offset = start + len(rest) - len(stripped)
        depth = 0
        for i in range(offset, len(text)):
            if text[i] == "{":
                depth += 1
            elif text[i] == "}":
                depth -= 1
                if depth == 0:
                    return text[offset + 1 : i].strip()
        return None
    if rest.startswith(" "):  # "\boxed 5" (no braces): up to the next space or "$".
        match = re.match(r"\s+([^\s$]+)", rest)
        return match.group(1) if match else None
    return None


def gsm8k_reference_answer(solution: str) -> str:
    """Return the gold answer of a GSM8K solution: the text after its last ``####``.

    Raises:
        ValueError: ``solution`` has no ``#### <answer>`` line.
    """
    matches = _HASH_ANSWER.findall(solution)
    if not matches:
        raise ValueError(
            f"a GSM8K solution must end with a '#### <answer>' line, got {solution[-80:]!r}"
        )
    return matches[-1]


def extract_final_answer(text: str) -> str | None:
    r"""Return the final answer that ``text`` commits to, or ``None`` if it gives none.

    Precedence: the last ``\boxed{...}``/``\fbox{...}``; else the last ``#### ...`` line; else the
    last "final answer: ..." / "the answer is ..." phrase (up to the end of its line, without a
    trailing period). GSM8K calculator marks ``<<...>>`` are ignored.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a string, got {type(text).__name__}")
    boxed = last_boxed(text)
    if boxed is not None:
        return boxed
    text = _CALCULATOR_MARK.sub("", text)
    hashes = _HASH_ANSWER.findall(text)
    if hashes:
        return hashes[-1]
    phrases = _PHRASE_ANSWER.findall(text)
    if phrases:
        answer = phrases[-1].strip()
        answer = answer.removesuffix(".").strip()
        inner = last_boxed(answer)
        return inner if inner is not None else answer
    return None


def normalize_answer(answer: str) -> str:
    """Return a canonical form of a final answer string (see the module docstring)."""
    if not isinstance(answer, str):
        raise TypeError(f"answer must be a string, got {type(answer).__name__}")
    s = answer.strip()
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
    # \text{...} around the whole answer, or around words inside it.
    s = re.sub(r"\\text\{\s*([^{}]*?)\s*\}", r"\1", s)
    s = s.strip()
    # Leading "x =" / "k=" assignments of a single variable.
    s = re.sub(r"^[a-zA-Z]\s*=\s*(?=[^=]+$)", "", s)
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
    match = _TRAILING_UNIT.match(s)
    if match and re.search(r"\d", match.group("value")):
        return match.group("value").strip().rstrip("{").strip()
    return s


def _canonical_number(s: str) -> str:
    try:
        value = Fraction(s)
    except (ValueError, ZeroDivisionError):
        return s
    if value.denominator == 1:
        return str(value.numerator)
    text = f"{float(value):.12g}"
    return text


def _numeric_value(s: str) -> Fraction | None:
    """Return the exact value of a normalised plain number or simple fraction, else ``None``."""
    try:
        if _NUMBER.match(s):
            return Fraction(s)
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
        rel_tol: Relative tolerance for numeric comparison.
    """
    if not isinstance(predicted, str) or not isinstance(reference, str):
        raise TypeError(
            f"answers must be strings, got {type(predicted).__name__} and "
            f"{type(reference).__name__}"
        )
    a, b = normalize_answer(predicted), normalize_answer(reference)
    if a == b:
        return True
    value_a, value_b = _numeric_value(a), _numeric_value(b)
    if value_a is not None and value_b is not None:
        if value_a == value_b:
            return True
        scale = max(abs(value_a), abs(value_b))
        return abs(float(value_a - value_b)) <= rel_tol * float(scale)
    return False
