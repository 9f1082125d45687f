"""runtime: process: each task as a child process in the harness venv."""
