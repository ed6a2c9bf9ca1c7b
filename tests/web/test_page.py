"""The page (``scorezoo web``) with the library's models in this process: its JSON API answers what the CLI's
``--json`` answers, every bad request gets a sentence, and in a real browser (headless chromium) a photo becomes
engraved notes, a clip gets its genre, a bad file shows its error and a genre becomes music.

Screenshots of each state go to ``$SCOREZOO_SCREENSHOTS`` (``make screenshots``: benchmarks/results/web/), else
to the test's temporary folder."""
import asyncio
import os
import threading
from pathlib import Path

import portpicker
import pytest
import requests

from tests.web.webdriver import Browser, available

pytestmark = pytest.mark.slow

FIXTURE = Path(__file__).resolve().parents[2] / "data" / "fixtures" / "primus" / "000051652-1_2_1.png"
MAX_UPLOAD_MB = 2.0


class PageServer:
    """The page's app on a free port, served by its own event loop in a thread."""

    def __init__(self, backend, **kwargs):
        from aiohttp import web

        from zoo.web.app import create_app

        self.port = portpicker.pick_unused_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.loop = asyncio.new_event_loop()
        self.runner = web.AppRunner(create_app(backend, max_upload_mb=MAX_UPLOAD_MB, **kwargs))
        ready = threading.Event()

        def serve():
            asyncio.set_event_loop(self.loop)
            self.loop.run_until_complete(self.runner.setup())
            self.loop.run_until_complete(web.TCPSite(self.runner, "127.0.0.1", self.port).start())
            ready.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=serve, daemon=True)
        self.thread.start()
        assert ready.wait(30)

    def stop(self):
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(scope="module")
def page():
    from zoo.web.backends import LocalBackend

    server = PageServer(LocalBackend())
    yield server
    server.stop()


@pytest.fixture(scope="module")
def clip(genre_build) -> Path:
    data, _ = genre_build
    return sorted((Path(data) / "clips").rglob("*.wav"))[0]


@pytest.fixture
def shots(tmp_path) -> Path:
    return Path(os.environ.get("SCOREZOO_SCREENSHOTS", tmp_path))


def post_file(page, endpoint, name, data):
    return requests.post(f"{page.url}{endpoint}", files={"file": (name, data)}, timeout=300)


def test_recognize_answers_what_the_cli_answers(page):
    import zoo

    answer = post_file(page, "/api/recognize", FIXTURE.name, FIXTURE.read_bytes())
    assert answer.status_code == 200, answer.text
    body = answer.json()
    (library,) = zoo.load("omr-resnet-bisru").recognize_page(FIXTURE)
    assert body["tokens"] == library["tokens"] and body["file"] == FIXTURE.name
    assert body["confidence"] == pytest.approx(library["confidence"], abs=1e-6)
    view = body["view"]
    assert "<score-partwise" in view["musicxml"] and view["svg"][0].lstrip().startswith("<svg")
    assert view["timemap"] and view["timemap"][0]["tstamp"] == 0
    assert {"midi", "wav"} <= set(view)


def test_genre_answers_what_the_cli_answers(page, clip):
    import zoo

    body = post_file(page, "/api/genre", clip.name, clip.read_bytes()).json()
    library = zoo.load("genre-cnn").predict(clip)
    assert body["genre"] == library["genre"]
    assert body["scores"] == pytest.approx(library["scores"], abs=1e-5)
    assert body["spectrogram"]


def test_generate_writes_audio_midi_and_piano_roll(page):
    body = requests.post(f"{page.url}/api/generate", json={"genre": "fiddle", "seconds": 2, "seed": 3},
                         timeout=300).json()
    assert body["notes"] > 0 and {"wav", "midi", "png"} <= set(body) and body["program"] == 40
    again = requests.post(f"{page.url}/api/generate", json={"genre": "fiddle", "seconds": 2, "seed": 3},
                          timeout=300).json()
    assert again["midi"] == body["midi"]  # the same seed, the same music


def test_a_bad_top_is_a_sentence(page):
    answer = requests.post(f"{page.url}/api/search?top=many", files={"file": ("clip.wav", b"RIFF")}, timeout=60)
    assert answer.status_code == 400 and "top must be a whole number" in answer.json()["error"]


@pytest.mark.parametrize("request_kwargs, status, words", [
    ({"endpoint": "/api/recognize", "name": "notes.txt", "data": b"these are not notes"}, 400, "not an image"),
    ({"endpoint": "/api/recognize", "name": "empty.png", "data": b""}, 400, "empty.png is empty"),
    ({"endpoint": "/api/genre", "name": "clip.wav", "data": b"RIFF\x00\x00"}, 400, ""),
    ({"endpoint": "/api/genre", "name": "big.wav", "data": b"\x00" * int(MAX_UPLOAD_MB * 2**20 + 10)}, 413,
     "larger than 2 MB"),
    ({"endpoint": "/api/search", "name": "clip.wav", "data": b"RIFF"}, 404, "no score collection is indexed"),
])
def test_bad_uploads_get_a_sentence(page, request_kwargs, status, words):
    answer = post_file(page, **request_kwargs)
    assert answer.status_code == status
    error = answer.json()["error"]
    assert words in error and "Traceback" not in error and len(error) > 10


@pytest.mark.parametrize("fields, words", [
    ({"genre": "polka"}, "unknown genre 'polka'"),
    ({"genre": "fiddle", "seconds": 500}, "seconds must be"),
    ({"genre": "fiddle", "seed": "x"}, "seed a whole number"),
])
def test_bad_generation_settings_get_a_sentence(page, fields, words):
    answer = requests.post(f"{page.url}/api/generate", json=fields, timeout=60)
    assert answer.status_code == 400 and words in answer.json()["error"]


def test_over_a_model_server_the_page_answers_as_with_the_models_in_process(page, exported_models, clip):
    """`scorezoo web --server`: the same readings and genres through gRPC as from the library."""
    from serving import config as config_lib
    from serving.server import ModelServer
    from zoo.web.backends import ServedBackend

    entries = [config_lib.ModelEntry(name, exported_models / name) for name in ("genre-cnn", "omr-resnet-bisru")]
    model_server = ModelServer(entries, port=portpicker.pick_unused_port(), poll_seconds=0).start()
    served = PageServer(ServedBackend(f"127.0.0.1:{model_server.port}"))
    try:
        for endpoint, path in (("/api/recognize", FIXTURE), ("/api/genre", clip)):
            remote = post_file(served, endpoint, path.name, path.read_bytes()).json()
            local = post_file(page, endpoint, path.name, path.read_bytes()).json()
            key = "tokens" if endpoint == "/api/recognize" else "genre"
            assert remote[key] == local[key], endpoint
        assert "model server" in requests.get(f"{served.url}/api/info", timeout=30).json()["backend"]
    finally:
        served.stop()
        model_server.stop()


def test_a_model_server_that_is_down_is_a_sentence(clip):
    from zoo.web.backends import ServedBackend

    server = PageServer(ServedBackend(f"127.0.0.1:{portpicker.pick_unused_port()}", timeout=3))
    try:
        answer = post_file(server, "/api/genre", clip.name, clip.read_bytes())
    finally:
        server.stop()
    assert answer.status_code == 503 and "does not answer" in answer.json()["error"]


browser_missing = available()


@pytest.mark.skipif(browser_missing is not None, reason=str(browser_missing))
def test_in_a_browser_a_photo_becomes_notes_a_clip_a_genre_and_a_genre_music(page, clip, shots, tmp_path):
    import zoo

    library = zoo.load("omr-resnet-bisru").recognize_page(FIXTURE)[0]["tokens"]
    with Browser() as browser:
        browser.get(page.url)
        browser.wait_for("document.getElementById('backend').textContent.includes('in-process')")

        browser.upload("#read-form input[type=file]", FIXTURE)
        browser.wait_for("!document.getElementById('read-result').hidden")
        shown = browser.script("return [...document.querySelectorAll('#tokens .token')].map(e => e.textContent);")
        assert shown == library
        assert browser.script("return document.querySelectorAll('#score svg').length") >= 1
        assert browser.script("return document.getElementById('dl-musicxml').href.startsWith('data:')")
        browser.screenshot(shots / "read-a-score.png")

        bad = tmp_path / "not-a-score.png"
        bad.write_bytes(b"a text file, not an image")
        browser.upload("#read-form input[type=file]", bad)
        error = browser.wait_for("document.querySelector('#read-status.error')?.textContent")
        assert "not-a-score.png" in error and "not an image" in error
        browser.screenshot(shots / "an-error.png")

        browser.click("button[data-tab=listen]")
        browser.upload("#listen-form input[type=file]", clip)
        browser.wait_for("!document.getElementById('listen-result').hidden")
        genre = zoo.load("genre-cnn").predict(clip)["genre"]
        assert browser.text("#genre-name") == f"Genre: {genre}"
        browser.wait_for("document.getElementById('search-status').textContent.includes('No score collection')")
        browser.screenshot(shots / "listen-to-a-recording.png")

        browser.click("button[data-tab=make]")
        browser.script("document.querySelector('#make-form [name=seconds]').value = 4;")
        browser.click("#make-form button[type=submit]")
        browser.wait_for("!document.getElementById('make-result').hidden")
        assert "notes of fiddle" in browser.text("#make-status")
        browser.screenshot(shots / "make-music.png")
    assert all((shots / name).stat().st_size > 10_000 for name in
               ("read-a-score.png", "an-error.png", "listen-to-a-recording.png", "make-music.png"))


def test_page_is_self_contained():
    """Nothing is fetched from elsewhere at run time: the page works offline."""
    static = Path(__file__).resolve().parents[2] / "zoo" / "web" / "static"
    for path in static.iterdir():
        text = path.read_text(encoding="utf-8")
        assert "http://" not in text and "https://" not in text, path
