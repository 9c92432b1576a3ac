"""Answer parsing under generated texts: the answers of the replaced regex parser, never an error.

The pieces below are the characters and words each part of the parser reacts to (markers,
boxes, braces, units, numbers, spaces of several kinds, letters that fold onto ASCII under
IGNORECASE), so short random joins of them reach every branch; on such short texts the old
backtracking parser (tests/text/legacy_answers.py) is fast, and both must agree exactly.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ompo_envs.text import answers
from tests.fuzz.support import fuzz
from tests.text import legacy_answers as legacy

PIECES = (
    "#",
    "####",
    " ",
    "  ",
    "\n",
    "\t",
    "\r",
    "\u00a0",
    "1",
    "2",
    "3",
    "0",
    "١",
    "x",
    "a",
    "C",
    "e",
    ":",
    "is",
    "IS",
    "the answer",
    "Final Answer",
    "<<",
    ">",
    ">>",
    "{",
    "}",
    "\\boxed",
    "\\fbox",
    "\\text{",
    "\\TEXT{",
    "\\text",
    "\\mbox{",
    "\\",
    "\\x",
    "\\cm",
    "cm",
    "dollars",
    "sq",
    "sq.",
    "units",
    "square",
    "cubic",
    "inch",
    "inches",
    "es",
    "kg",
    "hours",
    "percent",
    "^",
    "^{2}",
    "^3",
    ".",
    ",",
    "/",
    "$",
    "\\$",
    "%",
    "\\%",
    "=",
    "x =",
    "\\frac",
    "\\dfrac",
    "\\sqrt",
    "\\left(",
    "\\right)",
    "\\!",
    "(",
    ")",
    "-",
    "+",
    "°",
    "^\\circ",
    "ſ",
    "İ",
    "K",
)
#: Up to 12 pieces; drawn as one byte string (one choice for hypothesis, so cheap to generate).
texts = st.binary(max_size=12).map(lambda b: "".join(PIECES[i % len(PIECES)] for i in b))


def _outcome(function, *args):  # type: ignore[no-untyped-def]
    try:
        return function(*args)
    except Exception as error:  # the old parser's crashes are compared by type
        return ("raised", type(error).__name__)


@given(text=texts)
@fuzz(max_examples=2000)
def test_extraction_agrees_with_the_regex_parser(text):
    assert answers.extract_final_answer(text) == legacy.extract_final_answer(text)
    assert answers.last_boxed(text) == legacy.last_boxed(text)
    assert _outcome(answers.gsm8k_reference_answer, text) == _outcome(
        legacy.gsm8k_reference_answer, text
    )


@given(text=texts, other=texts)
@fuzz(max_examples=2000)
def test_normal_forms_and_matching_agree_with_the_regex_parser(text, other):
    assert answers.normalize_answer(text) == legacy.normalize_answer(text)
    assert answers.answers_match(text, other) == legacy.answers_match(text, other)


@given(text=st.text(max_size=300), other=st.text(max_size=40))
@fuzz(max_examples=1500)
def test_any_text_parses_without_an_error(text, other):
    found = answers.extract_final_answer(text)
    assert found is None or isinstance(found, str)
    assert isinstance(answers.normalize_answer(text), str)
    assert answers.answers_match(text, other) in (True, False)
    assert answers.answers_match(text, text)
