"""gpqa's official archive (the authors' password-protected zip) read with the
csv module alone, independently of evaltasks' gpqa.py: what the gpqa tests and the
all-benchmarks run compare with."""

import csv
import io
import zipfile

from support.paths import DATA_DIR

ARCHIVE = DATA_DIR / "gpqa" / "dataset.zip"


def official_rows(subset):
    """The subset's rows as the csv module reads the official CSV, independently of gpqa.py."""
    with zipfile.ZipFile(ARCHIVE) as z:
        text = z.read(f"dataset/gpqa_{subset}.csv", pwd=b"deserted-untie-orchid").decode("utf-8")
    return list(csv.DictReader(io.StringIO(text, newline="")))
