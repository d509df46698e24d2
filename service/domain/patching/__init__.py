"""The parts of `service.domain.edits`: patch parsing, placement, merging, validation.

Pure Python on the standard library (difflib, ast); errors are `LoopyError`s.
Import the public API from `service.domain.edits`.
"""
