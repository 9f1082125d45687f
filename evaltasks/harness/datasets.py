"""Where a benchmark's data lives inside the container, and reading it."""

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
