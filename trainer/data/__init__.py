"""Harness data: preparation, the on-disk harness, the tokenizer and the training loader.

`trainer.data.harness` (Harness, HarnessError) imports no torch; `trainer.data.loader`
(TrainLoader) does.
"""

from trainer.data.harness import Harness, HarnessError

__all__ = ["Harness", "HarnessError"]
