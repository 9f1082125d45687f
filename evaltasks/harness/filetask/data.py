"""Rows of a file task's split, from the copies the launcher put in the task's
data folder: JSON Lines or a JSON array (``json``), or CSV with a header
(``csv``). A CSV column whose every cell is a whole number holds ints (then a
float column floats), as Hugging Face's loader infers them, so that an
``answer`` column of 0-3 indexes ``doc_to_choice``; an empty cell is None."""

import csv
import json
import os

from ..datasets import DatasetError


def read_split(folder, names, fmt):
    rows = []
    for name in names:
        path = os.path.join(folder, name)
        rows += _read_csv(path) if fmt == "csv" else _read_json(path)
    return rows


def _read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except UnicodeDecodeError as e:
        raise DatasetError(f"{path}: not UTF-8 text ({e})") from None
    if text.lstrip().startswith("["):
        try:
            rows = json.loads(text)
        except ValueError as e:
            raise DatasetError(f"{path}: not JSON ({e})") from None
    else:
        rows = []
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except ValueError as e:
                    raise DatasetError(f"{path}:{number}: not JSON ({e})") from None
    for number, row in enumerate(rows, 1):
        if not isinstance(row, dict):
            raise DatasetError(f"{path}: row {number} is not an object of columns")
    if not rows:
        raise DatasetError(f"{path}: no rows in the file")
    return rows


def _read_csv(path):
    try:
        with open(path, encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
    except (UnicodeDecodeError, csv.Error) as e:
        raise DatasetError(f"{path}: not a UTF-8 CSV file ({e})") from None
    if not rows:
        raise DatasetError(f"{path}: no rows in the file")
    for column in rows[0]:
        cells = [row[column] for row in rows if row.get(column) not in (None, "")]
        for kind in (int, float):
            try:
                [kind(c) for c in cells]
            except ValueError:
                continue
            for row in rows:
                if row.get(column) not in (None, ""):
                    row[column] = kind(row[column])
            break
        for row in rows:
            if row.get(column) == "":
                row[column] = None
    return rows
