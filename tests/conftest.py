"""Test configuration: Keras 2 before TensorFlow loads; a private SCOREZOO_HOME per session; the tiny real builds
the integration and parity tests share; each test marked by its folder (``-m "not integration"`` runs the unit
tests alone in about a minute)."""
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "data" / "fixtures"


def pytest_collection_modifyitems(items):
    for item in items:
        parts = Path(str(item.fspath)).relative_to(REPO / "tests").parts
        if parts[0] in ("integration", "parity", "web"):
            item.add_marker(parts[0])


@pytest.fixture(scope="session", autouse=True)
def _isolated_home(tmp_path_factory):
    """Keep user-level overrides out of the tests."""
    home = tmp_path_factory.mktemp("scorezoo_home")
    old = os.environ.get("SCOREZOO_HOME")
    os.environ["SCOREZOO_HOME"] = str(home)
    yield home
    if old is None:
        os.environ.pop("SCOREZOO_HOME", None)
    else:
        os.environ["SCOREZOO_HOME"] = old


@pytest.fixture
def primus_fixture() -> Path:
    return FIXTURES / "primus"


@pytest.fixture(scope="session")
def genre_build(tmp_path_factory):
    """A real, tiny genre build (2 clips per genre), shared by the dataset and model tests."""
    from zoo.datasets import genre

    out = tmp_path_factory.mktemp("genre")
    return out, genre.build_dataset(out, limit=10, workers=2)


STAFF_LIMIT = 36


@pytest.fixture(scope="session")
def staff_build(tmp_path_factory):
    """A real, small staff build (36 engraved incipits), shared by the dataset and OMR tests."""
    from zoo.datasets import staff

    out = tmp_path_factory.mktemp("staff")
    return out, staff.build_dataset(out, limit=STAFF_LIMIT, workers=2)


@pytest.fixture(scope="session")
def pairs_build(tmp_path_factory):
    """A real, tiny pairs build (48 snippet-excerpt pairs) and its report, shared by the dataset, retrieval and
    pipeline tests."""
    from zoo.datasets import pairs

    data = tmp_path_factory.mktemp("pairs")
    return data, pairs.build_dataset(data, limit=48, workers=2)


@pytest.fixture(scope="session")
def pairs_all_splits(pairs_build, tmp_path_factory):
    """The tiny pairs build with every split: a build this small may lack one, and another stands in for it (for
    training and the pipeline, which need all three)."""
    import shutil

    data = tmp_path_factory.mktemp("pairs-all-splits")
    shutil.copytree(pairs_build[0], data, dirs_exist_ok=True)
    records = data / "tfrecords"
    for split in ("validation", "test"):
        if not list((records / split).glob("*.tfrecord")):
            (records / split).mkdir(exist_ok=True)
            donor = next(s for s in ("test", "validation", "train") if list((records / s).glob("*.tfrecord")))
            for f in (records / donor).glob("*.tfrecord"):
                shutil.copy(f, records / split / f.name)
    return data


@pytest.fixture(scope="session")
def exported_models(tmp_path_factory):
    """genre-cnn, omr-resnet-bisru and retrieval-gcn exported once with their shipped weights; copy before changing
    it."""
    from serving.export import export

    root = tmp_path_factory.mktemp("exported")
    for name in ("genre-cnn", "omr-resnet-bisru", "retrieval-gcn"):
        export(name, root)
    return root
