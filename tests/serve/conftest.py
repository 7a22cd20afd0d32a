"""An exported model for the service's tests (ONNX Runtime, no torch in the server)."""

import pytest

from spertmt.cli import main

from ..fixtures.make_model_fixture import OUT as TRAINED


@pytest.fixture(scope="session")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("serve") / "onnx"
    assert main(["export", "--format", "onnx", str(TRAINED), str(folder)]) == 0
    return folder
