"""What a newcomer hit (issue 21) outside compare: the history of a run started
with ``doit -f``, help with override mistakes and pasted keys, and the small
things of the CLI."""

import json

from conftest import REPO, doit, evaltasks_cli, write_config
from evaltasks.lock import OutputDirLock


def invocation_of(stdout):
    return stdout.split()[1].rstrip(":")


def test_doit_f_from_another_folder_records_the_config_it_read(tmp_path, state):
    """Failed before the fix: the history said <clone>/cfg/a.yaml, a file that does not exist."""
    (tmp_path / "cfg").mkdir()
    out = tmp_path / "results"
    write_config(tmp_path / "cfg" / "a.yaml", "http://127.0.0.1:9/v1/chat/completions", out)
    out.mkdir()
    # The run stops at the output dir's lock (no endpoint or Docker needed) and is recorded.
    holder = OutputDirLock(str(out))
    holder.acquire("a test holding the lock")
    try:
        done = doit("-f", str(REPO / "dodo.py"), "config=cfg/a.yaml", cwd=tmp_path)
    finally:
        holder.release()
    assert done.returncode != 0 and "Traceback" not in done.stderr
    ident = invocation_of(done.stdout)
    status = evaltasks_cli("status", ident, "--json")
    assert json.loads(status.stdout)["invocation"]["config"] == str(tmp_path / "cfg" / "a.yaml")
    assert f"  config {tmp_path / 'cfg' / 'a.yaml'}" in evaltasks_cli("status", ident).stdout.splitlines()
    assert f"{tmp_path / 'cfg' / 'a.yaml'} → {out}" in evaltasks_cli("ls", "runs").stdout
