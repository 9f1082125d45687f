"""gsm8k: data, extraction and scoring on recorded-style responses."""

import pytest

from evaltasks.harness.benchmarks import gsm8k
from evaltasks.harness.datasets import DatasetError


def test_loads_all_1319_problems_with_clean_gold(data_dir):
    items = gsm8k.load(str(data_dir / "gsm8k"))
    assert len(items) == 1319
    assert items[0]["gold"] == "18"
    assert all("," not in item["gold"] for item in items)


@pytest.mark.parametrize("response, expected", [
    ("Step 1 ...\nAnswer: 18", "18"),
    ("Answer: $1,234.", "1234"),
    ("So she pays $18.00 in total.\nAnswer: $18.00", "18"),
    ("The final answer is 42.", "42"),
    ("The final answer is $\\$5$", "5"),
    ("work...\n#### 1,000", "1000"),
    ("Answer: -3", "-3"),
    ("Answer: 0.5", "0.5"),
    ("First we get 5 apples, then 7 more, so 12 apples.", "12"),      # no marker: last number
    ("Answer: 3\n\nWait, I made a mistake.\nAnswer: 4", "4"),          # the last marker wins
    ("Answer: see above. The total is 20", "20"),                      # a marker without a number
    ("I cannot solve this.", None),
])
def test_extraction(response, expected):
    assert gsm8k.extract(response) == expected


@pytest.mark.parametrize("extracted, gold, score", [
    ("18", "18", 1.0), ("18.0", "18", 1.0), ("19", "18", 0.0), (None, "18", 0.0), ("1000", "1000", 1.0),
])
def test_score(extracted, gold, score):
    assert gsm8k.score(extracted, {"gold": gold}) == score


def test_prompt_asks_for_an_answer_line():
    (message,) = gsm8k.prompt({"question": "What is 2+2?"}, {})
    assert message["role"] == "user"
    assert "What is 2+2?" in message["content"] and 'Answer: $ANSWER' in message["content"]


def test_malformed_file_names_file_and_line(tmp_path):
    (tmp_path / "test.jsonl").write_text('{"question": "q", "answer": "#### 1"}\n{not json\n')
    with pytest.raises(DatasetError, match=r"test.jsonl:2: not a gsm8k row"):
        gsm8k.load(str(tmp_path))


def test_lm_eval_prompt_style():
    (message,) = gsm8k.prompt({"question": "What is 2+2?"}, {"extra": {"prompt_style": "lm-eval"}})
    assert message["content"].startswith("Given the following problem")
    assert 'end with "The final answer is [answer]"' in message["content"]
    assert gsm8k.extract("2 plus 2 is 4.\nThe final answer is 4") == "4"
