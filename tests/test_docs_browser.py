"""The built site and a ``grukit compare`` report, rendered in a real browser.

Each page is served over HTTP from a local server (a file:// page cannot start the search's
web worker) and loaded in headless Chromium, driven through the DevTools protocol over a pipe
(``--remote-debugging-pipe``: no extra dependency, no browser download). A page fails on

- an image that did not decode (``naturalWidth`` 0 after loading, lazy images included),
- a request that failed or was answered with an HTTP error, or that left the machine
  (the site must render offline),
- a JavaScript exception, a ``console.error`` or a browser log entry of level error,
- a local ``href``/``src`` in its HTML that names no file of the site (read statically, so
  links the browser does not follow are checked too).

One screenshot per page goes to ``$GRUKIT_DOCS_SHOTS`` when set, else to a pytest temporary
folder. Without a Chromium binary (``chromium``, ``chromium-browser``, ``google-chrome`` or
``$GRUKIT_CHROMIUM``) the tests skip; ``.ci/run`` installs Debian's ``chromium`` so that CI
never skips them. ``python tests/test_docs_browser.py SITE_DIR [SHOTS_DIR]`` checks a built
site by hand.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import functools
import html.parser
import http.server
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_docs import site  # noqa: E402,F401  (the strict build, once for this module)

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    """The browser binary: ``$GRUKIT_CHROMIUM`` if set, else the first of CANDIDATES."""
    named = os.environ.get("GRUKIT_CHROMIUM")
    if named:
        return shutil.which(named) or (named if os.access(named, os.X_OK) else None)
    return next((found for name in CANDIDATES if (found := shutil.which(name))), None)


CHROMIUM = find_chromium()


@pytest.fixture(scope="module")
def chromium() -> str:
    """The browser, or a skip with the reason (a failure where ``.ci/run`` installed it and
    set ``GRUKIT_REQUIRE_CHROMIUM=1``: CI must not skip the check silently)."""
    if CHROMIUM is None:
        why = ("no chromium binary on PATH (apt-get install chromium, or set GRUKIT_CHROMIUM); "
               ".ci/run installs it")
        if os.environ.get("GRUKIT_REQUIRE_CHROMIUM") == "1":
            pytest.fail(f"GRUKIT_REQUIRE_CHROMIUM=1 but {why}")
        pytest.skip(why)
    return CHROMIUM


class Browser:
    """Headless Chromium driven through the DevTools protocol on fds 3 and 4: JSON messages
    ended by a NUL byte, one flattened session for the one tab."""

    def __init__(self, binary: str, timeout: float = 30.0):
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="grukit-chromium-")
        originals = (*os.pipe(), *os.pipe())  # these may be fds 3 or 4 themselves: copy
        ends = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in originals]
        for fd in originals:
            os.close(fd)
        cmd_read, cmd_write, out_read, out_write = ends

        def child() -> None:  # the browser reads commands on fd 3 and answers on fd 4
            os.dup2(cmd_read, 3)
            os.dup2(out_write, 4)

        args = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--remote-debugging-pipe", f"--user-data-dir={self.profile}", "--no-first-run",
                "--no-default-browser-check", "--disable-extensions", "--hide-scrollbars",
                "--mute-audio", "--window-size=1280,900", "about:blank"]
        self.proc = subprocess.Popen(args, preexec_fn=child, pass_fds=(3, 4),
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        os.close(cmd_read)
        os.close(out_write)
        self._write, self._read = cmd_write, out_read
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict] = []
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget",
                                 {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable", session=self.session)
        self.call("Emulation.setDeviceMetricsOverride", {"width": 1280, "height": 900,
                  "deviceScaleFactor": 1, "mobile": False}, session=self.session)

    def _message(self, deadline: float) -> dict | None:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._read], [], [], left)[0]:
                return None
            chunk = os.read(self._read, 1 << 20)
            if not chunk:
                raise RuntimeError(f"chromium closed its DevTools pipe (exit {self.proc.poll()})")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method: str, params: dict | None = None, session: str | None = None,
             timeout: float | None = None) -> dict:
        """Send one command and return its result; events read meanwhile are kept."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._write, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            reply = self._message(deadline)
            if reply is None:
                raise TimeoutError(f"chromium did not answer {method} in time")
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error'].get('message')}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait(self, method: str, since: int, timeout: float) -> bool:
        """Read events until one named ``method`` arrived after index ``since``."""
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == method for e in self.events[since:]):
            reply = self._message(deadline)
            if reply is None:
                return False
            self.events.append(reply)
        return True

    def settle(self, quiet: float = 0.3, timeout: float = 5.0) -> None:
        """Read events until none came for ``quiet`` seconds (scripts ran, requests ended)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            reply = self._message(min(end, time.monotonic() + quiet))
            if reply is None:
                return
            self.events.append(reply)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.call("Browser.close", timeout=5)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._write, self._read):
            with contextlib.suppress(OSError):
                os.close(fd)
        shutil.rmtree(self.profile, ignore_errors=True)


@contextlib.contextmanager
def serve(folder: Path):
    """``folder`` over HTTP on a free local port; yields the base URL (ending in /)."""
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


# Waits for every image (lazy ones made eager) and names those that did not decode; an SVG
# may have no intrinsic width, so only a failed load counts for it.
BROKEN_IMAGES = """
Promise.all(Array.from(document.images, img => {
  img.loading = 'eager';
  return new Promise(done => {
    const verdict = () => done(img.naturalWidth > 0 || /\\.svg([?#]|$)/i.test(img.src)
                                ? null : (img.getAttribute('src') || '(no src)').slice(0, 120));
    if (img.complete) return verdict();
    img.addEventListener('load', verdict);
    img.addEventListener('error', () => done((img.getAttribute('src') || '').slice(0, 120)));
    setTimeout(verdict, 5000);
  });
})).then(found => found.filter(Boolean))
"""


def _problems(events: list[dict], origin: str) -> list[str]:
    """What went wrong on a page, from the DevTools events it produced."""
    found = []
    urls = {e["params"]["requestId"]: e["params"]["request"]["url"] for e in events
            if e.get("method") == "Network.requestWillBeSent"}
    for event in events:
        method, p = event.get("method"), event.get("params", {})
        if method == "Runtime.exceptionThrown":
            d = p["exceptionDetails"]
            text = d.get("exception", {}).get("description") or d.get("text", "")
            found.append(f"JavaScript exception: {text.splitlines()[0] if text else '?'}")
        elif method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            args = " ".join(str(a.get("value", a.get("description", ""))) for a in p["args"])
            found.append(f"console.{p['type']}: {args[:200]}")
        elif method == "Log.entryAdded" and p["entry"].get("level") == "error":
            entry = p["entry"]
            found.append(f"browser error: {entry.get('text', '')[:200]} {entry.get('url', '')}")
        elif method == "Network.requestWillBeSent":
            url = p["request"]["url"]
            if url.startswith(("http:", "https:")) and not url.startswith(origin):
                found.append(f"fetches from outside the site: {url[:200]}")
        elif method == "Network.responseReceived" and p["response"].get("status", 0) >= 400:
            found.append(f"HTTP {p['response']['status']}: {p['response']['url'][:200]}")
        elif method == "Network.loadingFailed" and not p.get("canceled"):
            url = urls.get(p.get("requestId"), "?")
            found.append(f"request failed ({p.get('errorText')}): {url[:200]}")
    return list(dict.fromkeys(found))  # once each, in order


def render(browser: Browser, url: str, shot: Path | None, origin: str) -> list[str]:
    """Load ``url`` in the tab, wait for it to settle, check its images, take a screenshot;
    return the problems found (empty: the page rendered cleanly)."""
    since = len(browser.events)
    s = browser.session
    browser.call("Page.navigate", {"url": url}, session=s)
    if not browser.wait("Page.loadEventFired", since, timeout=30):
        return [f"did not finish loading in 30 s: {url}"]
    browser.settle()
    broken = browser.call("Runtime.evaluate", {"expression": BROKEN_IMAGES,
                          "awaitPromise": True, "returnByValue": True}, session=s)
    problems = [f"broken image: {src}" for src in broken["result"].get("value", [])]
    browser.settle(quiet=0.1)
    problems += _problems(browser.events[since:], origin)
    if shot is not None:
        png = browser.call("Page.captureScreenshot", {"format": "png"}, session=s)["data"]
        shot.parent.mkdir(parents=True, exist_ok=True)
        shot.write_bytes(base64.b64decode(png))
    return problems


class _Refs(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs: list[str] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("href", "src") and value:
                self.refs.append(value)


def missing_assets(site_dir: Path, page: Path) -> list[str]:
    """The local ``href``/``src`` values of ``page`` that name no file under ``site_dir``."""
    parser = _Refs()
    parser.feed(page.read_text(encoding="utf-8"))
    base = "/" + page.relative_to(site_dir).as_posix()
    missing = []
    for ref in parser.refs:
        parts = urlsplit(ref)
        if parts.scheme or parts.netloc or not parts.path:  # http(s), data:, mailto:, #anchor
            continue
        target = site_dir / unquote(urljoin(base, parts.path)).lstrip("/")
        if not (target.is_file() or (target / "index.html").is_file()):
            missing.append(f"missing asset: {ref}")
    return list(dict.fromkeys(missing))


def check_pages(folder: Path, pages: list[Path], shots: Path | None,
                over_http: bool = True) -> dict[str, list[str]]:
    """Every page of ``folder`` in the browser and read statically: {page: problems}.
    ``over_http=False`` opens the files as a reader opens a saved report (file://)."""
    report: dict[str, list[str]] = {}
    browser = Browser(CHROMIUM or "chromium")
    try:
        with serve(folder) if over_http else contextlib.nullcontext(
                folder.resolve().as_uri() + "/") as origin:
            for page in pages:
                name = page.relative_to(folder).as_posix()
                shot = None if shots is None else shots / (
                    name.removesuffix(".html").replace("/", "__") + ".png")
                report[name] = (missing_assets(folder, page)
                                + render(browser, origin + name, shot, origin))
    finally:
        browser.close()
    return report


def _shots(tmp_path_factory, name: str) -> Path:
    where = os.environ.get("GRUKIT_DOCS_SHOTS")
    folder = Path(where) / name if where else tmp_path_factory.mktemp(f"shots-{name}")
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):  # an earlier run's pages
        old.unlink()
    return folder


def _failures(report: dict[str, list[str]]) -> str:
    return "\n".join(f"{page}: {p}" for page, found in report.items() for p in found)


def test_every_page_of_the_site_renders_without_broken_assets_or_errors(
        chromium, site, tmp_path_factory):  # noqa: F811
    site_dir = site[0]
    pages = sorted(site_dir.rglob("*.html"))
    assert len(pages) >= 20, f"the build has only {len(pages)} pages"
    shots = _shots(tmp_path_factory, "site")
    report = check_pages(site_dir, pages, shots)
    assert not _failures(report), "pages that do not render cleanly:\n" + _failures(report)
    taken = sorted(shots.glob("*.png"))
    assert len(taken) == len(pages), f"{len(taken)} screenshots for {len(pages)} pages"
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in taken)


def test_a_compare_report_renders_with_its_plots(chromium, tmp_path, tmp_path_factory):
    from grukit.tasks.compare import CompareConfig, compare, report

    cfg = CompareConfig(task="forecast", data="nile", models=("gru", "lstm"), seeds=1,
                        epochs=2, folds=1, memory_steps=0, latency_batch=(4, 10))
    files = report.write(compare(cfg, log=lambda *_: None), str(tmp_path))
    assert "report.html" in files
    page = tmp_path / "report.html"
    shots = _shots(tmp_path_factory, "compare")
    found = check_pages(tmp_path, [page], shots, over_http=False)  # opened as a file
    assert not _failures(found), "the compare report does not render cleanly:\n" + \
        _failures(found)
    assert (shots / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# a site with one fault per page, and one page without any
BAD_SITE = {
    "good.html": '<img src="ok.png"><link rel="stylesheet" href="ok.css"><a href="sub/">s</a>'
                 "<script>console.log('fine')</script>",
    "sub/index.html": "<p>a folder's page</p>",
    "missing_image.html": '<img src="gone.png">',
    "undecodable_image.html": '<img src="data:image/png;base64,iVBORw0KGgoAAAA=">',
    "not_an_image.html": '<img src="ok.css">',
    "missing_css.html": '<link rel="stylesheet" href="styles/gone.css">',
    "dead_link.html": '<a href="nowhere/">a page that is not there</a>',
    "script_error.html": "<script>undefinedFunction()</script>",
    "console_error.html": "<script>console.error('it broke')</script>",
    "outside.html": '<script src="https://cdn.example.invalid/lib.js"></script>',
}
EXPECTED = {
    "missing_image.html": ["missing asset: gone.png", "broken image: gone.png", "HTTP 404"],
    "undecodable_image.html": ["broken image: data:image/png"],
    "not_an_image.html": ["broken image: ok.css"],
    "missing_css.html": ["missing asset: styles/gone.css", "HTTP 404"],
    "dead_link.html": ["missing asset: nowhere/"],
    "script_error.html": ["JavaScript exception: ReferenceError: undefinedFunction"],
    "console_error.html": ["console.error: it broke"],
    "outside.html": ["fetches from outside the site: https://cdn.example.invalid/lib.js"],
}


def test_the_check_fails_on_each_kind_of_broken_page(chromium, tmp_path):
    png = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQ"
                           "DwAEhQGAhKmMIQAAAABJRU5ErkJggg==")  # 1 x 1 pixel
    (tmp_path / "ok.png").write_bytes(png)
    (tmp_path / "ok.css").write_text("p { color: black }")
    for name, body in BAD_SITE.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(f"<!doctype html><html><body>{body}</body></html>")
    pages = sorted(tmp_path / name for name in BAD_SITE)
    report = check_pages(tmp_path, pages, None)
    assert report["good.html"] == [] and report["sub/index.html"] == [], report
    for name, expected in EXPECTED.items():
        for text in expected:
            assert any(text in p for p in report[name]), f"{name}: {text!r} not in {report[name]}"


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: python tests/test_docs_browser.py SITE_DIR [SHOTS_DIR]")
    if CHROMIUM is None:
        sys.exit("no chromium binary on PATH: apt-get install chromium, or set GRUKIT_CHROMIUM")
    root = Path(sys.argv[1])
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else None
    found = check_pages(root, sorted(root.rglob("*.html")), out)
    print(_failures(found) or f"{len(found)} pages render cleanly")
    sys.exit(1 if _failures(found) else 0)
