"""Harness data: preparation, the on-disk harness, the tokenizer and the training loader.

`trainer.data.manifest` (the one manifest schema, HarnessError) imports nothing else of
the trainer; `trainer.data.harness` (Harness) imports no torch; `trainer.data.loader`
(TrainLoader) does.
"""

from trainer.data.harness import Harness, HarnessError

__all__ = ["Harness", "HarnessError"]
