"""The harness: everything that runs where the task runs (its container, the harness venv or a Slurm node); it imports nothing from the launcher.

Only the standard library and ``requests`` may be imported here, because this
package is copied into the harness image on its own.
"""
