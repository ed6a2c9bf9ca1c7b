"""Fixtures shared by the score recognition tests."""
import pytest

import zoo


@pytest.fixture(scope="module")
def recognizer():
    """An untrained omr-resnet-bisru (the tests that need trained weights load them)."""
    return zoo.create_model("omr-resnet-bisru")
