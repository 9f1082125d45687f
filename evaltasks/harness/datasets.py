"""Where a benchmark's data lives inside the container, and reading it. The same
concept as data/datasets.py at the other end: the launcher fetches and checks the
files on the host and mounts them; this module finds and reads them where the task runs."""

import csv
import gzip
import json
import os
import zlib


class DatasetError(Exception):
    """A dataset file that is missing or malformed; the message names the file."""


def data_dir(benchmark):
    """The benchmark's read-only data folder (mounted by the launcher)."""
    root = os.environ.get("EVALTASKS_DATA_DIR", "/data")
    return os.path.join(root, benchmark)


def read_jsonl(path, parse, what):
    """``parse(row)`` for every row of a JSON Lines file (gzip-compressed when it
    ends in .gz). A row ``parse`` rejects (ValueError, KeyError, TypeError,
    AttributeError), bad JSON, bad encoding or an empty file is a DatasetError
    naming the file and line; ``what`` says what a row should be."""
    opener = gzip.open if path.endswith(".gz") else open
    items, line_no = [], 0
    try:
        with opener(path, "rt", encoding="utf-8") as f:
            for line_no, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    items.append(parse(json.loads(line)))
                except (ValueError, KeyError, TypeError, AttributeError) as e:
                    raise DatasetError(f"{path}:{line_no}: not {what} ({e})") from None
    except (gzip.BadGzipFile, EOFError, zlib.error) as e:
        raise DatasetError(f"{path}: not a gzip-compressed file ({e})") from None
    except UnicodeDecodeError as e:
        raise DatasetError(f"{path}:{line_no + 1}: not UTF-8 text ({e})") from None
    if not items:
        raise DatasetError(f"{path}: no rows in the file")
    return items


def read_csv(path, columns, parse, what):
    """``parse(row)`` for every row of a CSV file whose header names at least
    ``columns`` (a row is a dict by column name). A missing column, a row with
    more or fewer fields than the header, a row ``parse`` rejects (ValueError),
    bad CSV, bad encoding or no rows is a DatasetError naming the file and line;
    ``what`` says what the rows are ("questions")."""
    items = []
    try:
        # utf-8-sig: a CSV saved by a spreadsheet may start with a byte-order mark.
        with open(path, encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f)
            missing = [c for c in columns if c not in (reader.fieldnames or ())]
            if missing:
                raise DatasetError(f"{path}: missing column(s) {', '.join(missing)}")
            for row in reader:
                where = f"{path}:{reader.line_num}"       # the row's last line: fields may span lines
                if None in row or None in row.values():
                    raise DatasetError(f"{where}: the row does not have the header's columns")
                try:
                    items.append(parse(row))
                except ValueError as e:
                    raise DatasetError(f"{where}: {e}") from None
    except (csv.Error, UnicodeDecodeError) as e:
        raise DatasetError(f"{path}: not a readable CSV file ({e})") from None
    if not items:
        raise DatasetError(f"{path}: no {what} in the file")
    return items
