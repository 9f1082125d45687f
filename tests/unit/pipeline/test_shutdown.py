"""The launcher's process skips only the garbage collections of its exit
(evaltasks/pipeline/shutdown.py): what a user could see of an exit still happens."""

import subprocess
import sys

PROGRAM = r"""
import atexit, gc, sys
# Registered first, so it runs last: after the freeze.
atexit.register(lambda: open(sys.argv[1] + ".before", "w").write(f"frozen {gc.get_freeze_count() > 0}"))
from evaltasks.pipeline import shutdown
shutdown.collect_nothing_at_exit()
shutdown.collect_nothing_at_exit()      # again: one freeze at exit all the same
atexit.register(lambda: open(sys.argv[1] + ".after", "w").write("ran"))
kept = open(sys.argv[1], "w")           # never closed: freed at exit, and flushed then
kept.write("x" * 100 + "\n")
print("printed", end="")
sys.exit(3)
"""


def test_an_armed_exit_keeps_its_code_output_atexit_handlers_and_unclosed_files(tmp_path):
    path = tmp_path / "unclosed.txt"
    done = subprocess.run([sys.executable, "-c", PROGRAM, str(path)], capture_output=True, text=True)
    assert done.returncode == 3, done.stderr
    assert done.stdout == "printed" and done.stderr == ""
    assert path.read_text() == "x" * 100 + "\n"
    assert (tmp_path / "unclosed.txt.before").read_text() == "frozen True"
    assert (tmp_path / "unclosed.txt.after").read_text() == "ran"
