"""Helpers shared by the test suites: in-process fakes, the decoding half of the
proto conversion, and the servers and harnesses several conftests start.

Importable as `tests.support` (pytest puts the repository root on sys.path, see
`pythonpath` in pyproject.toml); conftests stay thin and re-export fixtures."""
