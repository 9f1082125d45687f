"""MGSM: the same 250 GSM8K problems in 11 languages (Shi et al.; google-research/url-nlp),
asked and scored as simple-evals' ``mgsm_eval.py`` does (NeMo Evaluator's
``simple_evals.mgsm``, nvidia-simple-evals 26.3) for all 11 languages.

Data: ``mgsm_<lang>.tsv``, one ``question<TAB>answer`` line per problem, line i
the same problem in every language. Items go problem by problem (problem 0 in
the 11 languages, then problem 1, ...), so ``limit_samples: 22`` asks two
problems in every language; a whole run is the same set either way.

Prompt: the reference's instruction in the problem's language (``INSTRUCTIONS``),
asking for the integer answer on a last line after that language's word for
"Answer" (``ANSWER_WORD``). Extraction, as the reference: the text after the
last occurrence of that word (none: no answer; ``extract`` reads it for every
language whose word occurs, ``score`` takes the item's), commas removed, its last number
(``\\d+\\.?\\d*``, a trailing period cut). Score: 1 when that number, with a
trailing ``.0``-style fraction removed, is the gold string without commas.
So a minus sign is not read (no gold is negative) and ``Answer: 18 (not 17)``
reads 17, as in the reference.

Metrics: ``accuracy``, the mean over languages of ``accuracy/<lang>``;
``accuracy/non_en``, the mean over the ten other languages; and the reference's
own groups ``accuracy/latin`` (de en es fr sw) and ``accuracy/non_latin``, over samples.
"""

import os
import re

from .. import aggregate
from ..choices import group_metrics, macro_metric, scores_by
from ..datasets import DatasetError

LANGUAGES = ("bn", "de", "en", "es", "fr", "ja", "ru", "sw", "te", "th", "zh")
LATIN = ("de", "en", "es", "fr", "sw")

# The reference's wording, character for character (tests/unit/harness/benchmarks/test_mgsm.py compares):
# the Bengali one has U+09DF, which editors that normalise to NFC split in two.

INSTRUCTIONS = {
    "en": 'Solve this math problem. Give the reasoning steps before giving the final answer on the last line by itself in the format of "Answer:". Do not add anything other than the integer answer after "Answer:".',
    "bn": 'এই গণিতের সমস্যাটি সমাধান করুন। চূড়ান্ত উত্তর দেওয়ার আগে যুক্তিসম্পন্ন পদক্ষেপ প্রদান করুন। চূড়ান্ত উত্তরটি একক সংখ্যা হিসাবে "উত্তর:" এর পরে শেষ লাইনে দিন। "উত্তর:" এর পরে অন্য কিছু যুক্ত করবেন না।.',
    "de": 'Löse dieses Mathematikproblem. Gib die Schritte zur Begründung an, bevor du die endgültige Antwort in der letzten Zeile alleine im Format "Antwort:" gibst. Füge nichts anderes als die ganzzahlige Antwort nach "Antwort:" hinzu.',
    "es": 'Resuelve este problema matemático. Proporciona los pasos de razonamiento antes de dar la respuesta final en la última línea por sí misma en el formato de "Respuesta:". No añadas nada más que la respuesta entera después de "Respuesta:".',
    "fr": 'Résolvez ce problème de mathématiques. Donnez les étapes de raisonnement avant de fournir la réponse finale sur la dernière ligne elle-même dans le format de "Réponse:". N\'ajoutez rien d\'autre que la réponse entière après "Réponse:".',
    "ja": 'の数学の問題を解いてください。最終的な答えを出す前に、解答の推論過程を記述してください。そして最後の行には "答え:" の形式で答えを記述し、その後には整数の答え以外何も追加しないでください。',
    "ru": 'Решите эту математическую задачу. Объясните шаги рассуждения перед тем, как дать окончательный ответ в последней строке сам по себе в формате "Ответ:". Не добавляйте ничего, кроме целочисленного ответа после "Ответ:".',
    "sw": 'Suluhisha tatizo hili la hesabu. Toa hatua za mantiki kabla ya kutoa jibu la mwisho kwenye mstari wa mwisho peke yake katika muundo wa "Jibu:". Usiongeze chochote kingine isipokuwa jibu la integer baada ya "Jibu:".',
    "te": "ఈ గణిత సమస్యను పరిష్కరించండి. చివరి సమాధానాన్ని ఇవ్వదానికి ముందు తర్కాత్మక అదుగులను ఇవ్వండి. చివరి పంక్తిలో మాత్రమే 'సమాధానం:' అనే ఆకారంలో చివరి సమాధానాద్ని ఇవ్వండి సమాధానం: తర్వాత పూర్ణాంక సమాధానానికి తప్పించి ఎదేనా చేర్చవద్దు.",
    "th": 'แก้ปัญหาคณิตศาสตร์นี้ ให้ให้ขั้นตอนการใช้เหตุผลก่อนที่จะให้คำตอบสุดท้ายในบรรทัดสุดท้ายโดยอยู่ในรูปแบบ "คำตอบ:" ไม่ควรเพิ่มอะไรนอกจากคำตอบที่เป็นจำนวนเต็มหลังจาก "คำตอบ:"',
    "zh": '解决这个数学问题。在最后一行给出答案前，请提供推理步骤。最后一行应该以 "答案: " 的形式独立给出答案。在 "答案：" 后不要添加除整数答案之外的任何内容。',
}
ANSWER_WORD = {"en": "Answer", "bn": "উত্তর", "de": "Antwort", "es": "Respuesta", "fr": "Réponse", "ja": "答え",
               "ru": "Ответ", "sw": "Jibu", "te": "సమాధానం", "th": "คำตอบ", "zh": "答案"}

_NUMBER = re.compile(r"\d+\.?\d*")


def load(data_dir):
    by_language = {lang: _read(os.path.join(data_dir, f"mgsm_{lang}.tsv"), lang) for lang in LANGUAGES}
    sizes = {len(rows) for rows in by_language.values()}
    if len(sizes) != 1:
        raise DatasetError(f"{data_dir}: the languages have different numbers of problems "
                           f"({', '.join(f'{l} {len(r)}' for l, r in by_language.items())})")
    return [by_language[lang][i] for i in range(sizes.pop()) for lang in LANGUAGES]


def _read(path, lang):
    items = []
    try:
        with open(path, encoding="utf-8") as f:
            for line_no, line in enumerate(f, 1):
                fields = line.strip().split("\t")
                if len(fields) != 2 or not fields[1].replace(",", "").isdigit():
                    raise DatasetError(f"{path}:{line_no}: expected a question, a tab and a whole number")
                items.append({"question": fields[0], "gold": fields[1], "language": lang, "problem": line_no - 1})
    except UnicodeDecodeError as e:
        raise DatasetError(f"{path}: not UTF-8 text ({e})") from None
    if not items:
        raise DatasetError(f"{path}: no problems in the file")
    return items


def prompt(item, params):
    return [{"role": "user", "content": f"{INSTRUCTIONS[item['language']]}\n\n{item['question']}"}]


def extract(text):
    """``{language: answer}`` for each language whose answer word the reply has
    (see the module docstring; None when no number follows it): the protocol's
    ``extract`` sees only the reply, and which word counts is the item's language."""
    text = text or ""
    return {lang: _after(text, word) for lang, word in ANSWER_WORD.items() if word in text}


def _after(text, word):
    numbers = _NUMBER.findall(text.split(word)[-1].strip().replace(",", ""))
    return numbers[-1].rstrip(".") if numbers else None


def score(extracted, item):
    answer = (extracted or {}).get(item["language"])
    if answer is not None and "." in answer:
        answer = answer.rstrip("0").rstrip(".")
    return {"score": float(answer == item["gold"].replace(",", "")), "answer": answer,
            "language": item["language"], "problem": item["problem"]}


def metrics(samples, params):
    scores, groups = scores_by(samples, "language")
    per_language = group_metrics(groups["language"])
    latin = [v for lang in LATIN for v in groups["language"].get(lang, [])]
    non_latin = [v for lang, values in groups["language"].items() if lang not in LATIN for v in values]
    return {"accuracy": macro_metric(list(per_language.values())),
            "accuracy/non_en": macro_metric([m for k, m in per_language.items() if k != "accuracy/en"]),
            "accuracy/latin": aggregate.mean_metric(latin), "accuracy/non_latin": aggregate.mean_metric(non_latin),
            **per_language}
