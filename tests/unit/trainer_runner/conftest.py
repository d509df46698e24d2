import importlib.util
import sys

import pytest
import torch

from trainer.baseline import BASELINE_PATH


@pytest.fixture(scope="session")
def baseline():
    """The baseline train.py loaded as a module, the way the runner's child loads it."""
    torch.set_num_threads(1)
    spec = importlib.util.spec_from_file_location("loopy_baseline_train", BASELINE_PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
