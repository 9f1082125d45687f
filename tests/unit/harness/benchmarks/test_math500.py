"""MATH-500: loading, answer extraction, and the LaTeX equivalence rules."""

import json

import pytest

from conftest import DATA_DIR

from evaltasks.harness import math_equiv
from evaltasks.harness.benchmarks import math500
from evaltasks.harness.datasets import DatasetError

DATA = DATA_DIR / "math500"


@pytest.fixture(scope="module")
def items():
    return math500.load(str(DATA))


def test_load_reads_all_problems(items):
    assert len(items) == 500
    assert items[0]["unique_id"] == "test/precalculus/807.json"
    assert items[0]["gold"] == "\\left( 3, \\frac{\\pi}{2} \\right)"
    assert all(item["problem"] and item["gold"] for item in items)


def test_every_gold_answer_round_trips(items):
    for item in items:
        gold = item["gold"]
        for reply in (f"We get $x$.\nThus the answer is $\\boxed{{{gold}}}$.",
                      f"Working...\nAnswer: {gold}",
                      f"**Answer:** $\\boxed{{{gold}}}$"):
            extracted = math500.extract(reply)
            assert extracted == gold, reply
            assert math500.score(extracted, item)["score"] == 1.0, gold


@pytest.mark.parametrize("reply, expected", [
    ("so $\\boxed{\\frac{1}{2}}$.", "\\frac{1}{2}"),
    ("first \\boxed{3}, then \\boxed{\\sqrt{\\frac{a}{b}}}", "\\sqrt{\\frac{a}{b}}"),      # last, nested
    ("\\boxed{\\{1, 2\\}}", "\\{1, 2\\}"),
    ("$\\boxed 5$", "5"),
    ("\\fbox{7}", "7"),
    ("Steps.\nAnswer: 42", "42"),
    ("Answer: 1\nOn second thought...\nAnswer: $\\frac{3}{4}$", "$\\frac{3}{4}$"),         # last line
    ("**Answer:** 12", "12"),
    ("**Final Answer: 12**", "12"),
    ("Answer:\n$$\n\\frac{1}{2}\n$$", "\\frac{1}{2}"),                                    # next line
    ("We find \\boxed{5}.\nAnswer: 6", "6"),                                              # Answer: wins
    ("So \\boxed{5}.\nAnswer: $\\boxed{7}$", "7"),                                        # boxed inside it
    ("the answer is \\boxed{\\frac{1}{2}", None),                                         # truncated
    ("no final answer here", None),
    ("", None),
])
def test_extract(reply, expected):
    assert math500.extract(reply) == expected


EQUIVALENT = [
    ("\\frac{1}{2}", "0.5"), ("\\dfrac{1}{2}", "\\frac12"), ("\\tfrac{3}{4}", "3/4"),
    ("\\frac12", "\\frac{1}{2}"), ("\\frac9{19}", "\\frac{9}{19}"), ("\\frac{270}7", "\\frac{270}{7}"),
    ("\\frac 59", "\\frac{5}{9}"), ("-\\frac{1}{3}", "\\frac{-1}{3}"), ("\\frac{2}{4}", "0.5"),
    ("\\left( 3, \\frac{\\pi}{2} \\right)", "(3,\\frac{\\pi}{2})"),
    ("30^\\circ", "30"), ("30^{\\circ}", "30"), ("30°", "30"), ("50\\%", "50"),
    ("\\$32,\\!348", "32348"), ("1,000", "1000"), ("11,\\! 111,\\! 111,\\! 100", "11111111100"),
    ("\\$18.90", "18.9"), (".0000672", "0.0000672"), ("5.", "5"), ("42.", "42"),
    ("5.4 \\text{ cents}", "5.4"), ("10\\text{ cm}^2", "10"), ("12 inches", "12"), ("8\\mbox{cm}", "8"),
    ("\\frac{270}7\\text{ degrees}", "\\frac{270}{7}"),
    ("x=5", "5"), ("x = 5", "5"), ("k = \\frac{1}{2}", "0.5"), ("\\theta = 30^\\circ", "30"),
    ("y = 2x + 3", "2x+3"), ("x \\in [-2,7]", "[-2, 7]"),
    ("\\text{Evelyn}", "Evelyn"), ("\\text{(C)}", "C"), ("\\textbf{(C)}", "(C)"), ("\\text{east}", "East"),
    ("3\\sqrt{13}", "3 \\sqrt{13}"), ("11\\sqrt2", "11\\sqrt{2}"), ("4210_{5}", "4210_5"),
    ("x^{2}+1", "x^2 + 1"), ("\\left[ \\frac{\\pi^2}{8}, 1 \\right]", "[\\frac{\\pi^2}{8},1]"),
    ("137 \\frac{1}{2}", "137.5"), ("1\\frac{4}{5}", "\\frac{9}{5}"),
    ("1,-2", "-2, 1"), ("3, 5, 7", "7,3,5"), ("x=1, x=-2", "-2,1"), ("1 \\text{ and } -2", "1,-2"),
    ("\\{1\\pm\\sqrt{5},-2\\}", "\\{-2, 1\\pm\\sqrt{5}\\}"),
    ("(6,31,-1)", "(6, 31, -1)"), ("(3,4]", "\\left(3, 4\\right]"),
    ("(0,9) \\cup (9,36)", "(0, 9)\\cup(9, 36)"),
    ("\\begin{pmatrix} -1/3 \\\\ 2/3 \\end{pmatrix}", "\\begin{pmatrix}-\\frac{1}{3}\\\\ \\frac23\\end{pmatrix}"),
    ("\\begin{pmatrix} -1 & 0 \\\\ 0 & -1 \\end{pmatrix}", "\\begin{pmatrix}-1&0\\\\0&-1\\end{pmatrix}"),
    ("\\boxed{7}", "7"), ("$7$", "7"), ("\\(7\\)", "7"), ("7\\!", "7"), ("6 - 5i", "6-5i"),
]

NOT_EQUIVALENT = [
    ("\\frac{1}{2}", "0.6"), ("\\frac{1}{3}", "0.333"), ("2", "-2"), ("1000", "100"),
    ("\\frac{\\sqrt{3}}{3}", "\\frac{1}{\\sqrt{3}}"),        # no symbolic algebra
    ("(6,31,-1)", "(6,-1,31)"),                              # tuples are ordered
    ("(3,4]", "(3,4)"), ("[1,2]", "(1,2)"),                  # brackets matter
    ("1,-2", "1,2"), ("1,2", "1,2,3"),
    ("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "\\begin{pmatrix} 1 & 2 \\end{pmatrix}"),
    ("x+1", "x-1"), ("\\text{east}", "west"), ("5", ""), ("5", None), ("", ""),
    ("5x - 7y + 11z + 4 = 0", "5x-7y+11z=0"),
    ("12", "1,2"),                                           # a list, not thousands
]


@pytest.mark.parametrize("a, b", EQUIVALENT)
def test_equivalent(a, b):
    assert math_equiv.is_equiv(a, b)
    assert math_equiv.is_equiv(b, a)


@pytest.mark.parametrize("a, b", NOT_EQUIVALENT)
def test_not_equivalent(a, b):
    assert not math_equiv.is_equiv(a, b)
    assert not math_equiv.is_equiv(b, a)


def test_score_from_a_reply():
    item = {"problem": "p", "gold": "\\frac{14}{3}", "subject": "Algebra", "level": 3}
    right = math500.extract("so it is $\\dfrac{14}{3}$.\nAnswer: $\\dfrac{14}{3}$")
    wrong = math500.extract("Answer: 4.67")
    assert math500.score(right, item) == {"score": 1.0, "subject": "Algebra", "level": 3}
    assert math500.score(wrong, item)["score"] == 0.0
    assert math500.score(None, item)["score"] == 0.0


def test_prompt_asks_for_an_answer_line():
    [message] = math500.prompt({"problem": "What is $1+1$?"}, {"extra": {}})
    assert message["role"] == "user"
    assert "What is $1+1$?" in message["content"] and 'Answer: $ANSWER' in message["content"]


@pytest.mark.parametrize("content, where", [
    ("{not json\n", ":1:"),
    (json.dumps({"problem": "p", "answer": "1"}) + "\n\n" + json.dumps({"problem": "q"}) + "\n", ":3:"),
    (json.dumps({"problem": "p", "answer": 1}) + "\n", ":1:"),
    ("[1, 2]\n", ":1:"),
    ("", ": no rows"),
])
def test_malformed_rows_name_the_file_and_line(tmp_path, content, where):
    (tmp_path / "test.jsonl").write_text(content)
    with pytest.raises(DatasetError) as e:
        math500.load(str(tmp_path))
    assert str(tmp_path / "test.jsonl") + where in str(e.value)


def test_non_utf8_names_the_file(tmp_path):
    (tmp_path / "test.jsonl").write_bytes(b'{"problem": "p", "answer": "1"}\n\xff\xfe\n')
    with pytest.raises(DatasetError, match="test.jsonl.*UTF-8"):
        math500.load(str(tmp_path))


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        math500.load(str(tmp_path))
