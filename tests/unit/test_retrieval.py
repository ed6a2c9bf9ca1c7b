"""Retrieval: graph construction held to spektral, ranks, snippet cuts, index files and their refusals."""
import json

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from spektral.utils import gcn_filter as spektral_gcn_filter

import zoo
from zoo.config import ConfigError
from zoo.metrics import retrieval_ranks, retrieval_summary
from zoo.models import retrieval
from zoo.preprocessing import snippets
from zoo.pretrained import WeightsError
from zoo.search import index as search_index
from zoo.search import sources
from zoo.training.configs import training_config


def test_gcn_filter_is_spektrals():
    rng = np.random.default_rng(0)
    a = (rng.random((4, 9, 9)) > 0.6).astype(np.float32)
    a = np.maximum(a, a.transpose(0, 2, 1))
    for m in a:
        np.fill_diagonal(m, 0)
    np.testing.assert_allclose(retrieval.gcn_filter(tf.constant(a)).numpy(), spektral_gcn_filter(a.copy()), atol=1e-6)


def test_knn_adjacency_is_symmetric_without_self_loops():
    x = tf.random.stateless_normal((2, 12, 8), seed=(1, 2))
    a = retrieval.knn_adjacency(x, 3).numpy()
    np.testing.assert_array_equal(a, a.transpose(0, 2, 1))
    assert np.all(np.diagonal(a, axis1=1, axis2=2) == 0)
    assert np.all(a.sum(-1) >= 3)


def test_neighbourhood_links_the_query_to_all_and_skips_the_excluded_row():
    bank = tf.random.stateless_normal((30, 8), seed=(3, 4))
    query = bank[5:7] + 0.01
    nodes, adjacency = retrieval.neighbourhood(query, bank, 4, exclude=tf.constant([5, -1]))
    assert nodes.shape == (2, 5, 8) and adjacency.shape == (2, 5, 5)
    assert np.all(adjacency.numpy()[:, 0, 1:] > 0)  # the query reaches every neighbour
    first = nodes.numpy()[0, 1:]
    assert not np.any(np.all(np.isclose(first, bank.numpy()[5]), axis=-1))  # its own bank row was excluded
    assert np.any(np.all(np.isclose(nodes.numpy()[1, 1:], bank.numpy()[6]), axis=-1))


def test_ranks_and_summary():
    eye = np.eye(5, dtype=np.float32)
    assert retrieval_ranks(eye, eye).tolist() == [1] * 5
    assert retrieval_ranks(eye, np.ones((5, 5), np.float32)).tolist() == [5] * 5  # ties count against the query
    summary = retrieval_summary(np.array([1, 2, 10, 30]))
    assert summary["R@1"] == 0.25 and summary["R@10"] == 0.75 and summary["R@25"] == 0.75
    assert summary["MRR"] == round((1 + 0.5 + 0.1 + 1 / 30) / 4, 4) and summary["median_rank"] == 6.0


def _staff_page(space: int = 12, width: int = 600) -> np.ndarray:
    page = np.full((space * 14, width), 255, np.uint8)
    top = space * 5
    for k in range(5):
        page[top + k * space, 20:width - 20] = 0
    for x in range(60, width - 60, 70):  # noteheads
        page[top + space:top + 2 * space, x:x + space] = 0
    return page


def test_snippets_cut_like_a_scaled_page():
    """The TF cut equals PIL's bilinear resize of the whole page and a crop (the pairs dataset's first cut)."""
    page = _staff_page()
    staff = (60.0, 108.0)
    zoom = snippets.STAFF_HEIGHT_PX / (staff[1] - staff[0])
    scaled = Image.fromarray(page).resize((round(page.shape[1] * zoom), round(page.shape[0] * zoom)), Image.BILINEAR)
    for x in (0.0, 250.0, 590.0):
        canvas = Image.new("L", (snippets.SNIPPET_WIDTH, snippets.SNIPPET_HEIGHT), 255)
        canvas.paste(scaled, (-round(x * zoom - snippets.SNIPPET_WIDTH / 2),
                              -round((staff[0] + staff[1]) / 2 * zoom - snippets.SNIPPET_HEIGHT / 2)))
        cut = snippets.cut_snippets(page, staff, [x])[0]
        assert np.abs(cut.astype(int) - np.asarray(canvas).astype(int)).max() <= 2


def test_staff_inputs_find_the_staff_and_window_it():
    page = _staff_page()
    geometry = snippets.staff_geometry(page[..., None] / 255.0).numpy()
    np.testing.assert_array_equal(geometry, [60, 108, 20, 579])
    inputs, xs = snippets.staff_inputs(tf.constant(page[..., None] / 255.0, tf.float32))
    assert inputs.shape[1:] == snippets.SHEET_SHAPE and len(xs) == inputs.shape[0]
    assert xs[0] == 20 and np.allclose(np.diff(xs.numpy()), 20 * 48 / 40)
    one, at = snippets.staff_inputs(tf.ones((snippets.SNIPPET_HEIGHT, snippets.SNIPPET_WIDTH, 1)))
    assert one.shape[0] == 1 and float(at[0]) == snippets.SNIPPET_WIDTH / 2
    with pytest.raises(tf.errors.InvalidArgumentError, match="no staff found"):
        snippets.staff_inputs(tf.ones((50, 70, 1)))


@pytest.fixture(scope="module")
def dual():
    return zoo.create_model("retrieval-dual")


def test_graph_model_needs_its_bank(tmp_path):
    model = zoo.create_model("retrieval-gcn", neighbours=3)
    with pytest.raises(WeightsError, match="no reference bank"):
        model.encode("audio", tf.zeros((1, 256)))
    with pytest.raises(WeightsError, match="needs more than 3 rows"):
        model.set_bank({"sheet": np.zeros((3, 256)), "audio": np.zeros((3, 256))})
    model.set_bank({"sheet": np.random.rand(20, 256), "audio": np.random.rand(20, 256)})
    raw = tf.random.uniform((6, 256))
    assert model.encode_transductive("sheet", raw).shape == (6, 128)
    assert np.allclose(np.linalg.norm(model.embed_inputs("audio", tf.zeros((2, *snippets.AUDIO_SHAPE))), axis=1), 1)


def test_retrieval_dual_has_no_graph():
    with pytest.raises(ValueError, match="neighbours must be 0"):
        zoo.create_model("retrieval-dual", neighbours=5)


def test_config_refuses_unknown_audio():
    with pytest.raises(ConfigError, match="train.audio 'mix'"):
        training_config("retrieval-gcn", ["train.audio=mix"])


def test_index_commit_open_and_an_interrupted_build(tmp_path, dual):
    idx = search_index.Index.create(tmp_path, "sheet", dual)
    vectors = np.eye(128, dtype=np.float32)[:4]
    idx.add("a.png", "0" * 64, vectors[:2], [{"page": 1, "system": 1, "x": 10.0, "seconds": None}] * 2)
    idx.commit()
    idx.add("b.png", "1" * 64, vectors[2:], [{"page": 1, "system": 2, "x": 5.0, "seconds": None}] * 2)
    # an interrupted commit: the vectors and items got written, index.json did not
    import faiss
    faiss.write_index(idx.vectors, str(tmp_path / search_index.VECTORS_FILE))
    again = search_index.Index.open(tmp_path)
    assert len(again) == 2 and again.vectors.ntotal == 2 and set(again.files) == {"a.png"}
    ranked = search_index.rank_items(again, vectors[1:2], [{"seconds": 3.0}], top=5)
    assert ranked == [{"item": "a.png", "score": 1.0, "page": 1, "system": 1, "x": 10.0, "seconds": 3.0}]


def test_index_refuses_another_model_and_same_modality_queries(tmp_path, dual):
    idx = search_index.Index.create(tmp_path, "sheet", dual)
    idx.add("a.png", "0" * 64, np.eye(128, dtype=np.float32)[:1], [{"page": 1, "system": 1, "x": 1.0,
                                                                      "seconds": None}])
    idx.commit()
    meta = json.loads((tmp_path / "index.json").read_text())
    meta["model"] = {"name": "retrieval-gcn", "files": {"weights": "ab" * 32}}
    (tmp_path / "index.json").write_text(json.dumps(meta))
    with pytest.raises(search_index.SearchIndexError, match="was built with retrieval-gcn"):
        search_index.Index.open(tmp_path).check_model(dual)
    with pytest.raises(sources.SourceError, match="the query is sheet, like the index"):
        search_index.search(search_index.Index.open(tmp_path), dual, tmp_path / "q.png")
    empty = search_index.Index.create(tmp_path / "empty", "audio", dual)
    with pytest.raises(search_index.SearchIndexError, match="is empty"):
        search_index.search(empty, dual, tmp_path / "q.png")
    with pytest.raises(search_index.SearchIndexError, match="not a scorezoo index"):
        search_index.Index.open(tmp_path / "nothing")


def test_sources_name_what_they_refuse(tmp_path):
    with pytest.raises(sources.SourceError, match="neither a score"):
        sources.modality_of(tmp_path / "notes.txt")
    bad = tmp_path / "broken.pdf"
    bad.write_bytes(b"%PDF-1.4 not really")
    with pytest.raises(sources.SourceError, match="not a readable PDF"):
        sources.pages(bad)
    empty = tmp_path / "empty.musicxml"
    empty.write_text("")
    with pytest.raises(sources.SourceError, match="music21 cannot read it"):
        sources.pages(empty)
    with pytest.raises(sources.SourceError, match="no such file"):
        sources.expand([tmp_path / "missing"])
