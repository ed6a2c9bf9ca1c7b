"""What the server and the library load from disk: version folders copied in file by file, versions that failed
to load, manifests that list (and hash) every file, and manifests that are wrong."""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

import zoo
from serving import config as config_lib
from serving.server import ModelManager, State
from zoo import paths
from zoo.pretrained import MANIFEST_NAME, Manifest, WeightsError, problems

SETTLE = 0.3
AVAILABLE, END, START = State.AVAILABLE, State.END, State.START


def _states(manager: ModelManager) -> dict[int, tuple[int, str]]:
    return dict(manager.models["genre-cnn"].states)


def _copy_slowly(source: Path, target: Path, gap: float) -> None:
    """Copy a SavedModel file by file, ``saved_model.pb`` first, as ``cp -r`` over a slow disk would."""
    files = sorted(source.rglob("*"), key=lambda p: (p.name != "saved_model.pb", str(p)))
    for path in files:
        dest = target / path.relative_to(source)
        if path.is_dir():
            dest.mkdir(parents=True, exist_ok=True)
        else:
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dest)  # keeps the old mtime: only the change time tells it just arrived
            time.sleep(gap)


def test_a_version_is_loaded_once_its_folder_stops_changing_and_retried_after_a_failed_load(tmp_path, models):
    base = tmp_path / "genre-cnn"
    source = models / "genre-cnn" / "1"
    manager = ModelManager([config_lib.ModelEntry("genre-cnn", base)], settle_seconds=SETTLE)
    try:
        # a half-copied folder: saved_model.pb without its variables
        (base / "1").mkdir(parents=True)
        shutil.copy2(source / "saved_model.pb", base / "1" / "saved_model.pb")
        assert manager.poll_once() is True and _states(manager)[1][0] == START  # still settling: not loaded
        time.sleep(SETTLE + 0.1)
        manager.poll_once()  # settled but incomplete: the load fails and is reported
        state, error = _states(manager)[1]
        assert state == END and "Loading failed" in error
        manager.poll_once()
        assert _states(manager)[1][0] == END  # not retried while the folder stays the same
        # the rest arrives: the folder changed, so the version is tried again once it settles
        _copy_slowly(source, base / "1", gap=0.05)
        manager.poll_once()
        assert _states(manager)[1][0] in (START, END)
        time.sleep(SETTLE + 0.1)
        manager.poll_once()
        assert _states(manager)[1] == (AVAILABLE, "")
    finally:
        manager.stop()


def test_start_waits_for_a_folder_that_is_still_arriving(tmp_path, models):
    base = tmp_path / "genre-cnn"
    _copy_slowly(models / "genre-cnn" / "1", base / "1", gap=0)
    manager = ModelManager([config_lib.ModelEntry("genre-cnn", base)], settle_seconds=SETTLE)
    try:
        manager.start(poll_seconds=0)  # blocks until the just-copied version settles, then loads it
        assert _states(manager)[1] == (AVAILABLE, "")
    finally:
        manager.stop()


# ------------------------------------------------------------------------------------------------ manifests
def test_every_shipped_file_is_listed_and_hashed():
    for name in zoo.list_models(pretrained=True):
        manifest = zoo.get_spec(name).pretrained
        listed = {e["file"] for e in manifest.files().values()}
        on_disk = {p.name for p in manifest.directory.iterdir()} - {MANIFEST_NAME}
        assert listed == on_disk, f"{name}: unlisted {on_disk - listed}, missing {listed - on_disk}"
        for role, entry in manifest.files().items():
            manifest.verified_file(entry["file"], entry["sha256"], role)


@pytest.fixture
def override(monkeypatch):
    """A copy of the shipped omr-resnet-bisru folder in $SCOREZOO_HOME/pretrained, which takes precedence."""
    source = paths.SHIPPED_PRETRAINED_DIR / "omr-resnet-bisru"
    target = paths.pretrained_dirs()[0] / "omr-resnet-bisru"
    assert target != source
    shutil.copytree(source, target)
    yield target
    shutil.rmtree(target)


def test_one_changed_byte_in_the_vocabulary_is_refused(override):
    vocabulary = override / "vocabulary.txt"
    data = bytearray(vocabulary.read_bytes())
    data[100] ^= 1
    vocabulary.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match=r"vocabulary for 'omr-resnet-bisru' are corrupt or were replaced"):
        zoo.load("omr-resnet-bisru")


def test_a_manifest_with_wrong_fields_gets_a_sentence_per_problem(override):
    data = json.loads((override / MANIFEST_NAME).read_text())
    data["weights"]["sha256"] = 123
    data["labels"] = "not a list"
    data["sign_head"]["file"] = "../../etc/passwd"
    (override / MANIFEST_NAME).write_text(json.dumps(data))
    with pytest.raises(WeightsError) as info:
        zoo.load("omr-resnet-bisru")
    message = str(info.value)
    assert "is not valid" in message and "Traceback" not in message
    for needle in ("weights.sha256: 123 is not of type 'string'", "labels: 'not a list' is not of type 'array'",
                   "sign_head.file: '../../etc/passwd' does not match"):
        assert needle in message, message


def test_the_older_unhashed_vocabulary_entry_is_named():
    data = json.loads((paths.SHIPPED_PRETRAINED_DIR / "omr-crnn-bilstm" / MANIFEST_NAME).read_text())
    data["vocabulary_file"] = data.pop("vocabulary")["file"]
    assert problems(data) == ["vocabulary_file: the older form, without a hash: name the file in 'vocabulary': "
                              "{'file', 'sha256'} instead"]


def test_an_unreadable_manifest_is_a_weights_error(tmp_path):
    (tmp_path / MANIFEST_NAME).write_bytes(b"\xff\xfe not json")
    with pytest.raises(WeightsError, match="Cannot read pretrained manifest"):
        Manifest.read(tmp_path)
