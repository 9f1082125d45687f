"""Compare runs: the first is the baseline; every other run is compared with it,
task by task (tasks pair by id), on the items both scored (load.item_key).

Per task: each run's value on the shared items, the difference B − A with its
95% interval, a paired test (exact McNemar for 0/1 scores, else a sign-flip
permutation test), its p-value after Holm's correction across every test of the
comparison, the minimum detectable effect at 80% power, the flips (items right
in one run, wrong in the other), and a verdict: better / worse (Holm-adjusted
p < 0.05), else underpowered (the detectable effect exceeds ``mde_threshold``)
or no detectable difference.
"""

import json
import re

from . import load, stats
from .options import FLIPS_SHOWN, MDE_THRESHOLD

VERDICTS = ("better", "worse", "no detectable difference", "underpowered")


def provenance_notes(a, b):
    """What differs between two tasks' provenance blocks, when both have one:
    the benchmark version and the digests of the data files. ``datasets`` is a
    list of ``{file, sha256, rows, …}``; ``rows`` differs whenever the limits do,
    which the count of items compared already says, so only the digests count."""
    pa, pb = a.provenance, b.provenance
    if not pa or not pb:
        return []
    notes = []
    for key in ("benchmark_version", "version"):
        if key in pa or key in pb:
            if pa.get(key) != pb.get(key):
                notes.append(f"benchmark version differs: {pa.get(key)} vs {pb.get(key)}")
            break
    da, db = _digests(pa.get("datasets")), _digests(pb.get("datasets"))
    changed = sorted(k for k in set(da) | set(db) if da.get(k) != db.get(k))
    if changed:
        notes.append(f"dataset files differ: {', '.join(changed)}")
    return notes


def _digests(datasets):
    """``{file: sha256}`` of a provenance ``datasets`` list; entries that are
    not objects (a hand-edited or foreign results.json) are skipped."""
    if not isinstance(datasets, list):
        return {}
    return {str(d.get("file")): d.get("sha256") for d in datasets if isinstance(d, dict)}


def _rows_by_key(task):
    first = {}
    for row in task.rows:
        first.setdefault(load.item_key(row), row)
    return first


def _flip(key, row_a, row_b):
    def side(row):
        return {"index": row.get("index"), "score": row.get("score"), "extracted": row.get("extracted"),
                "response": row.get("response"), "error": row.get("error")}
    return {"key": key, "gold": row_a.get("gold"), "a": side(row_a), "b": side(row_b)}


def pair(a, b):
    """The comparison of one task of the baseline (``a``) with the same task of another run."""
    entry = {"task": a.id, "benchmark": a.benchmark, "metric": a.headline,
             "notes": provenance_notes(a, b)}
    if a.benchmark != b.benchmark:
        entry["notes"].append(f"different benchmarks: {a.benchmark} vs {b.benchmark}")
    ua, ub = load.units(a, a.headline), load.units(b, a.headline)
    common = [k for k in ua if k in ub]
    entry.update(n=len(common), only_a=len(ua) - len(common), only_b=len(ub) - len(common))
    if not common:
        entry.update(verdict="not compared", p=None)
        entry["notes"].append("no samples in common")
        return entry
    if entry["only_a"] or entry["only_b"]:
        entry["notes"].append(f"compared on the {len(common)} items both scored "
                              f"({entry['only_a']} only in A, {entry['only_b']} only in B)")
    np = stats.lazy_numpy()     # not at import: html.py imports this module for ``fmt`` on every run
    va = np.array([ua[k] for k in common])
    vb = np.array([ub[k] for k in common])
    d = vb - va
    low, high = stats.bootstrap_mean(d)
    entry.update(a=float(va.mean()), b=float(vb.mean()), diff=float(d.mean()), ci_low=low, ci_high=high,
                 mde=stats.minimum_detectable_effect(d))
    if stats.is_binary(va) and stats.is_binary(vb):
        a_only, b_only = int(np.sum((va == 1) & (vb == 0))), int(np.sum((va == 0) & (vb == 1)))
        entry.update(test="exact McNemar", p=stats.mcnemar_exact(a_only, b_only),
                     right_only_a=a_only, right_only_b=b_only)
        rows_a, rows_b = _rows_by_key(a), _rows_by_key(b)
        entry["flips"] = [_flip(k, rows_a[k], rows_b[k]) for k, x in zip(common, d) if x != 0]
    else:
        entry.update(test="paired sign-flip permutation", p=stats.sign_flip_test(d))
    return entry


def compare(runs, mde_threshold=MDE_THRESHOLD):
    """``{baseline, runs, comparisons: [{run, tasks: [entry]}], notes}``; raises
    load.RunError when the runs share nothing to compare."""
    base = runs[0]
    result = {"baseline": base.label, "runs": [r.label for r in runs], "mde_threshold": mde_threshold,
              "comparisons": [], "notes": list(base.notes)}
    for other in runs[1:]:
        shared = [t for t in base.tasks if t in other.tasks]
        if not shared:
            raise load.RunError(f"{base.label} and {other.label} have no task in common "
                                f"({', '.join(base.tasks)} vs {', '.join(other.tasks)})")
        entries = [pair(base.tasks[t], other.tasks[t]) for t in shared]
        if all(e["n"] == 0 for e in entries):
            raise load.RunError(f"{base.label} and {other.label} have no samples in common "
                                f"(tasks {', '.join(shared)}: other items or another benchmark version)")
        missing = [t for t in base.tasks if t not in other.tasks] + [t for t in other.tasks if t not in base.tasks]
        notes = list(other.notes)
        if missing:
            notes.append(f"tasks in only one of the runs, not compared: {', '.join(missing)}")
        notes += [f"{e['task']}: {n}" for e in entries for n in e["notes"] if n.startswith(("benchmark ver", "dataset"))]
        result["comparisons"].append({"run": other.label, "tasks": entries, "notes": notes})
    tested = [e for c in result["comparisons"] for e in c["tasks"] if e.get("p") is not None]
    for e, adjusted in zip(tested, stats.holm([e["p"] for e in tested])):
        e["p_holm"] = adjusted
        if adjusted < stats.ALPHA and e["diff"] != 0:
            e["verdict"] = "better" if e["diff"] > 0 else "worse"
        elif e["mde"] > mde_threshold:
            e["verdict"] = "underpowered"
        else:
            e["verdict"] = "no detectable difference"
    return result


def regressions(result):
    return [(c["run"], e["task"]) for c in result["comparisons"] for e in c["tasks"] if e["verdict"] == "worse"]


def fmt(value, digits=4, signed=False):
    if value is None:
        return "–"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}g}" if value < 1e-3 else f"{value:.{digits}f}"


def markdown(result, flips=FLIPS_SHOWN):
    """The comparison as markdown; per task the count of flips and ``flips`` of
    them (None: every one)."""
    out = [f"# Compare with baseline {result['baseline']}", ""]
    out += [f"> {n}" for n in result["notes"]]
    for c in result["comparisons"]:
        out += [f"## {c['run']} vs {result['baseline']}", ""]
        out += [f"> {n}" for n in c["notes"]]
        out += ["| task | metric | A | B | B − A [95% CI] | test | p (Holm) | MDE (80% power) | n | verdict |",
                "|---|---|---|---|---|---|---|---|---|---|"]
        for e in c["tasks"]:
            if e.get("p") is None:
                out.append(f"| {e['task']} | {e['metric']} | | | | | | | 0 | {e['verdict']}: "
                           f"{'; '.join(e['notes'])} |")
                continue
            out.append(f"| {e['task']} | {e['metric']} | {fmt(e['a'])} | {fmt(e['b'])} | "
                       f"{fmt(e['diff'], signed=True)} [{fmt(e['ci_low'], signed=True)}, "
                       f"{fmt(e['ci_high'], signed=True)}] | {e['test']} | {fmt(e['p_holm'])} | "
                       f"{fmt(e['mde'])} | {e['n']} | **{e['verdict']}** |")
        out += [""] + [f"- {e['task']}: {n}" for e in c["tasks"] for n in e["notes"] if e.get("p") is not None]
        for e in c["tasks"]:
            if e.get("flips"):
                out += [""] + flips_markdown(e, flips)
    out += ["", "Tests: exact McNemar on discordant items for 0/1 scores, else a paired sign-flip permutation "
            "test; p-values Holm-adjusted across all tasks compared; B − A interval: percentile bootstrap over "
            "items; MDE: the smallest difference detected with 80% power at α = 0.05; a verdict is "
            f"'underpowered' when that exceeds {result['mde_threshold']}."]
    return "\n".join(out) + "\n"


def flips_markdown(entry, shown=FLIPS_SHOWN):
    """A task's flips: the counts, then ``shown`` of them (None: all), those
    right only in A (the losses) first. Each flip is a list item, never a table
    row: answers and golds that span lines (humaneval's programs) are fenced
    code blocks, which a table cell cannot hold."""
    flips = sorted(entry["flips"], key=lambda f: bool(f["b"]["score"]))
    picked = flips if shown is None else flips[:shown]
    head = (f"### {entry['task']}: {len(flips)} flips ({entry['right_only_b']} right only in B, "
            f"{entry['right_only_a']} right only in A)")
    out = [head, ""]
    if len(picked) < len(flips):
        out += [f"{len(picked)} of them shown, those right only in A first (`--flips all` or "
                f"`--flips N` for more).", ""]
    for f in picked:
        right = "B" if f["b"]["score"] else "A"
        out.append(f"- `{f['key']}` (A #{f['a']['index']}, B #{f['b']['index']}), right in {right}:")
        for label, value in (("gold", f["gold"]), ("A", _answer(f["a"])), ("B", _answer(f["b"]))):
            out += _shown(label, value)
    return out


def _answer(side):
    return side["extracted"] if side.get("error") is None else f"failed: {side['error']}"


def _shown(label, value):
    """``label: value`` inline when the value is one short line, else a fenced
    block whose fence is longer than any backtick run inside it."""
    text = value if isinstance(value, str) else json.dumps(value)
    if "\n" not in text and "`" not in text and len(text) <= 80:
        return [f"  - {label}: `{text}`"]
    fence = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", text)), default=0))
    return [f"  - {label}:", "", f"    {fence}"] + [f"    {line}" for line in text.splitlines()] + [f"    {fence}", ""]
