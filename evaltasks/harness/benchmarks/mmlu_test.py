"""MMLU (benchmark ``mmlu``; the module is not named so, as ``mmlu`` would own
mmlu_pro.py): 14,042 four-option questions in 57 subjects (Hendrycks et al., test split),
scored as simple-evals' ``mmlu_eval.py`` does (NeMo Evaluator's ``simple_evals.mmlu``,
package nvidia-simple-evals 26.3).

Data: simple-evals' ``mmlu.csv``, one row per question with columns
``,Question,A,B,C,D,Answer,Subject`` (a leading unnamed index). It is the
Hendrycks per-subject test CSVs put together with the subject (the file stem) as a
column.

Prompt: the simple-evals zero-shot multiple-choice template (``choices.zero_shot_prompt``),
asking for a last line ``Answer: $LETTER``.

Extraction, as the reference: markdown and LaTeX wrappers are first cut from the
reply (``**``, ``$``, ``\\boxed``, ``\\text``, ``{`` ...: ``_STRIP``); then the answer
words are tried one after another in a fixed order (English ``Answer:`` first, then
the other languages' words, ``_ANSWER_WORDS``); for the first word that occurs
followed by one answer character, the first such occurrence is the answer. The
answer character is case-insensitive and includes other scripts' option marks
(Arabic, Bengali, full-width letters map to A–D; digits, Cyrillic or Greek
letters are read but never equal a gold letter). Two consequences kept on
purpose, because the reference scores them so: ``Answer: b`` is wrong (lower case
is read, not upper-cased) and ``Answer: Because ...`` reads ``B``.

Metrics: ``accuracy`` (all questions), ``accuracy/<category>`` for the four
categories of the reference's subject table (stem, humanities, social_sciences,
other; an unknown subject counts as other), ``macro_accuracy`` (the mean of the
four category accuracies, as the reference's ``add_macro``) and
``accuracy/<subject>`` for each subject.
"""

import os
import re

from .. import aggregate
from ..choices import group_metrics, macro_metric, scores_by, zero_shot_prompt
from ..datasets import read_csv

COLUMNS = ("Question", "A", "B", "C", "D", "Answer", "Subject")

_STEM = ("abstract_algebra astronomy college_biology college_chemistry college_computer_science "
         "college_mathematics college_physics computer_security conceptual_physics electrical_engineering "
         "elementary_mathematics high_school_biology high_school_chemistry high_school_computer_science "
         "high_school_mathematics high_school_physics high_school_statistics machine_learning")
_HUMANITIES = ("formal_logic high_school_european_history high_school_us_history high_school_world_history "
               "international_law jurisprudence logical_fallacies moral_disputes moral_scenarios philosophy "
               "prehistory professional_law world_religions")
_SOCIAL = ("econometrics high_school_geography high_school_government_and_politics high_school_macroeconomics "
           "high_school_microeconomics high_school_psychology human_sexuality professional_psychology "
           "public_relations security_studies sociology us_foreign_policy")
_OTHER = ("anatomy business_ethics clinical_knowledge college_medicine global_facts human_aging management "
          "marketing medical_genetics miscellaneous nutrition professional_accounting professional_medicine "
          "virology")
CATEGORY = {subject: category
            for category, names in (("stem", _STEM), ("humanities", _HUMANITIES),
                                    ("social_sciences", _SOCIAL), ("other", _OTHER))
            for subject in names.split()}

# What the reference cuts from a reply before looking for the answer, in its order.
_STRIP = ("**", "$\\boxed{", "}$", "\\$", "$\\text{", "$", "\\mathrm{", "\\{", "\\text", "\\(",
          "\\mathbf{", "{", "\\boxed")

# "Answer:" in the languages the reference knows, in the order it tries them.
_ANSWER_WORDS = (
    r"Answer\s*:", "Answer\\s*:\u200b\u200b\u200b\u200b\u200b\u200b", r"উত্তর\s*:", r"उत्तर\s*:", "উত্তরঃ",
    r"Antwort\s*:", r"답변\s*:", r"정답\s*:", r"답\s*:", r"答案\s*：", r"答案\s*:", r"答\s*：", r"答\s*:",
    r"答复\s*：", r"答曰\s*：", "الإجابة:", "الجواب:", "إجابة:", "الإجابة النهائية:", "الإجابة الصحيحة:",
    "الإجابة الصحيحة هي:", "الإجابة هي:", r"Respuesta\s*:", r"Risposta\s*:", r"答え\s*:", r"答え\s*：",
    r"回答\s*:", r"回答\s*：", r"解答\s*:", r"Jawaban\s*:", r"Réponse\s*:", r"Resposta\s*:", r"Jibu\s*:",
    r"Idahun\s*:", r"Ìdáhùn\s*:", r"Idáhùn\s*:", "A\u0300m\u1ecd\u0300na\u0300\\s*:", r"Àdáhùn\s*:",
    "A\u0300nu\u0301go\u0323\\s*:", r"Àṣàyàn\s*:", r"መልስ\s*:", r"উঃ\s*:", r"Odpověď\s*:", r"Απάντηση\s*:",
    r"پاسخ\s*:", r"جواب\s*:", r"Sagot\s*:", r"Amsa\s*:", r"תשובה\s*:", r"Azịza\s*:", r"Жооп\s*:",
    r"Atsakymas\s*:", r"Valiny\s*:", r"Jawapan\s*:", r"Antwoord\s*:", r"Yankho\s*:", r"Odpowiedź\s*:",
    r"Răspuns\s*:", r"Ответ\s*:", r"පිළිතුර\s*:", r"Mhinduro\s*:", r"Jawaab\s*:", r"Odgovor\s*:", r"Svar\s*:",
    r"సమాధానం\s*:", r"Cevap\s*:", r"Відповідь\s*:", r"Câu trả lời\s*:",
)
# One answer character: a letter A–D or what other scripts write for it.
_MARK = ("([A-D]|[أ-د]|[অ]|[ব]|[ড]|[ঢ]|[Ａ]|[Ｂ]|[Ｃ]|[Ｄ]|[অআইঈউঊ]|[अ-ड]|[А-Да-д]|[Α-Δα-δ]|[א-ד]"
         "|[ㄱ-ㄷ가-다]|[①②③④]|[Ⅰ-Ⅳⅰ-ⅳ]|[٠-٣۰-۳]|[1-4a-d])")
_PATTERNS = tuple(re.compile(rf"(?i){word}\s*{_MARK}") for word in _ANSWER_WORDS)
# Option marks of other scripts that stand for a letter.
_AS_LETTER = str.maketrans({"أ": " A", "ب": " B", "ج": " C", "د": " D", "অ": " A", "ব": " B", "ড": " C",
                            "ঢ": " D", "Ａ": " A", "Ｂ": " B", "Ｃ": " C", "Ｄ": " D"})


def load(data_dir):
    subjects = {}      # one string object per subject, not one per question

    def item(row):
        if row["Answer"] not in ("A", "B", "C", "D"):
            raise ValueError(f"Answer {row['Answer']!r} is not one of A, B, C, D")
        subject = subjects.setdefault(row["Subject"], row["Subject"])
        return {"question": row["Question"], "options": tuple(row[c] for c in "ABCD"), "gold": row["Answer"],
                "subject": subject, "category": CATEGORY.get(subject, "other")}

    return read_csv(os.path.join(data_dir, "mmlu.csv"), COLUMNS, item, "questions")


def prompt(item, params):
    return [{"role": "user", "content": zero_shot_prompt(item["question"], item["options"])}]


def extract(text):
    text = text or ""
    for token in _STRIP:
        text = text.replace(token, "")
    for pattern in _PATTERNS:
        match = pattern.search(text)
        if match:
            return match.group(1).translate(_AS_LETTER).strip()
    return None


def score(extracted, item):
    return {"score": float(extracted == item["gold"]), "subject": item["subject"],
            "category": item["category"]}


def metrics(samples, params):
    scores, groups = scores_by(samples, "category", "subject")
    per_category = group_metrics(groups["category"])
    return {"accuracy": aggregate.mean_metric(scores), "macro_accuracy": macro_metric(list(per_category.values())),
            **per_category, **group_metrics(groups["subject"])}

