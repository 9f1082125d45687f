"""Where the repo, the datasets and the upstream references are, for the tests
and for bench/ scripts that reuse them."""

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# A user's or CI's own copies win (the README's EVALTASKS_DATA_DIR layout); else the
# clone's sibling ../shared. The upstream references live beside the datasets.
DATA_DIR = Path(os.environ.get("EVALTASKS_DATA_DIR") or REPO.parent / "shared" / "datasets")
REFERENCE_DIR = Path(os.environ.get("EVALTASKS_REFERENCE_DIR") or DATA_DIR.parent / "reference")
