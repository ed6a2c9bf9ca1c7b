"""A small W3C WebDriver client for the page's browser tests: Debian's chromedriver driving Debian's chromium,
headless. Selenium speaks this same protocol; it is not in the package set requirements.lock keeps to (0025), and
the tests need only a handful of its commands."""
from __future__ import annotations

import base64
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import portpicker
import requests

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # the W3C key of an element reference


class WebDriverError(RuntimeError):
    pass


def available() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    for binary in ("chromedriver", "chromium"):
        if shutil.which(binary) is None:
            return f"{binary} is not installed (make setup installs chromium and chromium-driver)"
    return None


class Browser:
    """One headless chromium session; ``with Browser() as b: b.get(url) ...``."""

    def __init__(self, width: int = 1280, height: int = 1400):
        self.port = portpicker.pick_unused_port()
        self.driver = subprocess.Popen(["chromedriver", f"--port={self.port}"], stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)
        self.base = f"http://127.0.0.1:{self.port}"
        for _ in range(100):
            try:
                requests.get(f"{self.base}/status", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        args = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={width},{height}", "--autoplay-policy=no-user-gesture-required"]
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome",
                                                 "goog:chromeOptions": {"binary": shutil.which("chromium"),
                                                                        "args": args}}}}
        self.session = self._call("POST", f"{self.base}/session", caps)["sessionId"]

    def _call(self, method: str, url: str, body: dict | None = None) -> Any:
        response = requests.request(method, url, json=body, timeout=300)
        value = response.json().get("value")
        if response.status_code >= 400:
            raise WebDriverError(f"{method} {url}: {value.get('message', value) if isinstance(value, dict) else value}")
        return value

    def command(self, method: str, path: str, body: dict | None = None) -> Any:
        return self._call(method, f"{self.base}/session/{self.session}{path}", body)

    def get(self, url: str) -> None:
        self.command("POST", "/url", {"url": url})

    def find(self, css: str) -> str:
        return self.command("POST", "/element", {"using": "css selector", "value": css})[ELEMENT]

    def click(self, css: str) -> None:
        self.command("POST", f"/element/{self.find(css)}/click", {})

    def upload(self, css: str, path: Path) -> None:
        """Choose ``path`` in the file input ``css`` (its change event fires, as when a user picks a file)."""
        self.command("POST", f"/element/{self.find(css)}/value", {"text": str(path)})

    def text(self, css: str) -> str:
        return self.command("GET", f"/element/{self.find(css)}/text")

    def script(self, source: str, *args: Any) -> Any:
        return self.command("POST", "/execute/sync", {"script": source, "args": list(args)})

    def wait_for(self, source: str, timeout: float = 240.0, every: float = 0.5) -> Any:
        """Poll the JavaScript expression ``source`` until it is truthy; its value."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.script(f"return ({source});")
            if value:
                return value
            time.sleep(every)
        raise TimeoutError(f"still false after {timeout:g} s: {source}")

    def screenshot(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(self.command("GET", "/screenshot")))
        return path

    def close(self) -> None:
        try:
            self.command("DELETE", "")
        finally:
            self.driver.terminate()
            self.driver.wait(timeout=10)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
