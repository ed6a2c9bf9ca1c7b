"""A server with small caps over the exported models, for the hostile requests of this suite."""
from __future__ import annotations

import shutil

import portpicker
import pytest

from serving import config as config_lib
from serving.server import ModelServer
from tests.integration.security.security_caps import (
    IDLE_SECONDS,
    MAX_BATCH,
    MAX_CONNECTIONS,
    MAX_INFLIGHT_MB,
    MAX_MESSAGE,
    OMR_MAX_BATCH,
)
from zoo.datasets import tfrecords


@pytest.fixture(scope="package")
def models(tmp_path_factory, exported_models):
    root = tmp_path_factory.mktemp("secure-models")
    shutil.copytree(exported_models, root, dirs_exist_ok=True)
    return root


@pytest.fixture(scope="package")
def server(models):
    entries = [config_lib.ModelEntry(name, models / name) for name in ("genre-cnn", "omr-resnet-bisru")]
    srv = ModelServer(entries, port=portpicker.pick_unused_port(), rest_port=portpicker.pick_unused_port(),
                      poll_seconds=0, max_message_bytes=MAX_MESSAGE, max_input_bytes=MAX_MESSAGE // 2,
                      max_batch=MAX_BATCH, model_max_batch={"omr-resnet-bisru": OMR_MAX_BATCH},
                      max_inflight_mb=MAX_INFLIGHT_MB, max_connections=MAX_CONNECTIONS,
                      rest_idle_seconds=IDLE_SECONDS).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="package")
def clip(genre_build) -> bytes:
    out_dir, _ = genre_build
    return bytes(next(tfrecords.iter_examples(out_dir, "test", "genre"))["audio"])
