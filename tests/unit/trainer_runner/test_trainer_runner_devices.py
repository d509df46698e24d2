"""One device grammar for the worker's --device and the runner's RunConfig.device."""

import pytest

from trainer.runner.devices import device_class_of, validate_device


@pytest.mark.parametrize(
    ("device", "canonical"), [("cpu", "cpu"), ("cuda", "cuda:0"), ("cuda:3", "cuda:3")]
)
def test_a_valid_device_comes_back_canonical(device, canonical):
    assert validate_device(device) == canonical


@pytest.mark.parametrize("device", ["gpu", "cpu:0", "cuda:", "cuda:x", "cuda:1:2", ""])
def test_anything_else_is_refused_saying_what_is_accepted(device):
    with pytest.raises(ValueError, match="cpu, cuda or cuda:N"):
        validate_device(device)


def test_the_device_class_is_the_default_queue():
    assert device_class_of("cuda:2") == "cuda"
    assert device_class_of("cpu") == "cpu"
