"""Prompts and targets from a row, by lm-eval's rules:

- ``doc_to_text`` / ``doc_to_target``: a column name gives that column's value
  as it is; anything else is a Jinja2 template over the row's columns (an
  unknown column is an error, not an empty string). A rendered target that is a
  whole number indexes ``doc_to_choice`` when there is one; one that looks like a
  list (``[...]``) is a list of acceptable targets.
- ``doc_to_choice``: a list, a column holding a list, or a template that renders one.
- The prompt: ``description``, then ``num_fewshot`` examples, each its text,
  ``target_delimiter`` and its target, each followed by ``fewshot_delimiter``,
  then the row's text. It is sent as one user message.
"""

import ast
import random
import re

import jinja2

_ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                          autoescape=False)
# lm-eval templates use it (e.g. to clean a question): re.sub under a filter's name.
_ENV.filters["regex_replace"] = lambda text, find, replace: re.sub(find, replace, text)
FEWSHOT_SEED = 1234     # lm-eval's fewshot seed


class TemplateError(ValueError):
    pass


def check(text):
    """Raise TemplateError (one line, with the line number) unless ``text`` compiles."""
    try:
        _ENV.parse(text)
    except jinja2.TemplateSyntaxError as e:
        raise TemplateError(f"Jinja syntax error at line {e.lineno}: {e.message}") from None


_compiled = {}


def render(text, doc):
    template = _compiled.get(text)
    if template is None:
        template = _compiled[text] = _ENV.from_string(text)
    try:
        return template.render(**doc)
    except jinja2.UndefinedError as e:
        raise TemplateError(f"{e.message} (columns: {', '.join(doc)})") from None
    except Exception as e:     # a template's own mistake: a bad index, a method of None
        raise TemplateError(f"{type(e).__name__}: {e}") from None


class Renderer:
    """One task's doc_to_* rules, and the few-shot examples it draws from."""

    def __init__(self, task, fewshot_docs=()):
        self.task = task
        self.fewshot_docs = list(fewshot_docs)

    def text(self, doc):
        spec = self.task["doc_to_text"]
        return str(doc[spec]) if spec in doc else render(spec, doc)

    def choices(self, doc):
        spec = self.task["doc_to_choice"]
        if spec is None or isinstance(spec, list):
            return spec
        value = doc[spec] if spec in doc else ast.literal_eval(render(spec, doc))
        if isinstance(value, dict):
            value = list(value.values())
        if not isinstance(value, (list, tuple)):
            raise TemplateError(f"doc_to_choice gave {value!r}, not a list")
        return [str(v) for v in value]

    def target(self, doc):
        """What lm-eval's doc_to_target returns: a string, an index, or a list."""
        spec = self.task["doc_to_target"]
        if spec in doc:
            return doc[spec]
        text = render(spec, doc)
        if text.isdigit() and self.task["doc_to_choice"] is not None:
            return int(text)
        if len(text) >= 2 and text[0] == "[" and text[-1] == "]":
            try:
                return ast.literal_eval(text)
            except (SyntaxError, ValueError):
                return text
        return text

    def golds(self, doc):
        """The acceptable answers as strings: an index is looked up in the choices."""
        target = self.target(doc)
        choices = self.choices(doc)
        targets = target if isinstance(target, list) else [target]
        out = []
        for t in targets:
            if choices is not None and isinstance(t, int) and not isinstance(t, bool):
                if not 0 <= t < len(choices):
                    raise TemplateError(f"target {t} is not an index of the {len(choices)} choices")
                out.append(choices[t])
            else:
                out.append(str(t))
        return out

    def gold_index(self, doc):
        """The position of the right choice, or None without choices."""
        choices = self.choices(doc)
        if choices is None:
            return None
        target = self.target(doc)
        target = target[0] if isinstance(target, list) else target
        if isinstance(target, int) and not isinstance(target, bool):
            return target
        return choices.index(str(target)) if str(target) in choices else None

    def prompt(self, doc, index):
        """The context sent for row ``index`` of the evaluated split."""
        shots = self._shots(doc, index)
        examples = "".join(self.text(s) + self.task["target_delimiter"] + self.golds(s)[0]
                           + self.task["fewshot_delimiter"] for s in shots)
        description = render(self.task["description"], doc) if self.task["description"] else ""
        return description + examples + self.text(doc)

    def _shots(self, doc, index):
        n = self.task["num_fewshot"]
        if not n:
            return []
        # A row is never its own example when both come from one split.
        same = self.task["fewshot_split"] == self.task["test_split"]
        pool = [d for d in self.fewshot_docs if not (same and d == doc)]
        if len(pool) < n:
            raise TemplateError(f"num_fewshot {n}: the fewshot split has only {len(pool)} other rows")
        if self.task["fewshot_sampler"] == "first_n":
            return pool[:n]
        # Seeded per row, so a row's prompt does not depend on which rows ran before it.
        return random.Random(f"{FEWSHOT_SEED}:{index}").sample(pool, n)
