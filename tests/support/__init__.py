"""What the tests run against and share, none of it a test: the scripted
endpoints (``endpoint``, ``hostile_endpoint``, ``scripted``), the upstream
references the fidelity tests compare with (``*_reference``, ``reference_wheels``,
``gpqa_official``), the task folders the harness tests write (``harness_task``),
where the repo and its data are (``paths``) and the skip policy plugin (``skips``).
Fixtures stay in tests/conftest.py, which puts tests/ on sys.path."""
