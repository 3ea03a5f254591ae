"""Checks of a built site in real Chromium, as functions that return lists of problems.

Each ``*_problems`` function returns human-readable strings, empty when the page is fine, so the
same check runs over the fixture site (expect ``[]``), over a deliberately broken copy (expect a
non-empty list) and over the real ``site/``. Nothing here reaches the network: the site is
served by :class:`StaticServer` on 127.0.0.1 and every request to another origin is recorded and
aborted by :func:`open_page`.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
AXE_VERSION = "4.14.1"
FIRST_LOAD_BUDGET = 2 * 1024 * 1024  # bytes a page may transfer before the reader does anything
BAD_ALTS = {"", "png", "jpg", "jpeg", "gif", "svg", "image", "img", "figure", "picture"}


# --------------------------------------------------------------------------------------- server
class _Handler(http.server.SimpleHTTPRequestHandler):
    """Static files with HTTP Range support (as GitHub Pages has; browsers need it for video)."""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        pass

    def send_head(self):  # type: ignore[override]
        self._range: tuple[int, int] | None = None
        header = self.headers.get("Range", "")
        match = re.fullmatch(r"bytes=(\d*)-(\d*)", header.strip())
        path = self.translate_path(self.path)
        if not match or os.path.isdir(path) or not os.path.isfile(path):
            return super().send_head()
        size = os.path.getsize(path)
        start_s, end_s = match.groups()
        if start_s == "" and end_s == "":
            return super().send_head()
        if start_s == "":  # the last N bytes
            start, end = max(0, size - int(end_s)), size - 1
        else:
            start, end = int(start_s), min(int(end_s) if end_s else size - 1, size - 1)
        if start >= size or start > end:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{size}")
            self.end_headers()
            return None
        f = open(path, "rb")  # noqa: SIM115 - closed by copyfile's caller, as in the stdlib
        f.seek(start)
        self._range = (start, end)
        self.send_response(206)
        self.send_header("Content-Type", self.guess_type(path))
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        return f

    def copyfile(self, source, outputfile) -> None:  # type: ignore[override]
        try:
            if getattr(self, "_range", None):
                start, end = self._range  # type: ignore[misc]
                remaining = end - start + 1
                while remaining > 0:
                    chunk = source.read(min(64 * 1024, remaining))
                    if not chunk:
                        break
                    outputfile.write(chunk)
                    remaining -= len(chunk)
            else:
                shutil.copyfileobj(source, outputfile)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the browser got what it needed (video metadata) and hung up

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        super().end_headers()


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hangs up mid-response is normal for media


class StaticServer:
    """Serve ``directory`` on 127.0.0.1 at a free port, in a daemon thread."""

    def __init__(self, directory: Path) -> None:
        handler = functools.partial(_Handler, directory=str(directory))
        self.httpd = _Server(("127.0.0.1", 0), handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> StaticServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# ---------------------------------------------------------------------------------------- pages
def site_pages(site: Path) -> list[str]:
    """Every HTML page of a built site as a URL path relative to its root (``demo/x/``)."""
    pages = []
    for path in sorted(site.rglob("*.html")):
        rel = path.relative_to(site).as_posix()
        if rel == "404.html" or rel.startswith(("assets/", "search/")):
            continue
        pages.append(rel[: -len("index.html")] if rel.endswith("index.html") else rel)
    return pages


def is_local(url: str, base: str) -> bool:
    return url.startswith(base) or url.split(":", 1)[0] in ("data", "blob", "about")


@dataclass
class PageVisit:
    """What happened while a page loaded: messages, requests and bytes received."""

    url: str
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    bad_responses: list[str] = field(default_factory=list)
    bytes_by_request: dict[str, int] = field(default_factory=dict)
    first_load_bytes: int = 0


@contextlib.contextmanager
def open_page(browser: Any, url: str, base: str, *, javascript: bool = True,
              viewport: dict[str, int] | None = None,
              **context_options: Any) -> Iterator[tuple[Any, PageVisit]]:
    """Load ``url`` in a fresh context (cold cache); record everything; block other origins.

    ``context_options`` go to playwright's ``new_context`` (e.g. ``color_scheme="dark"``,
    ``reduced_motion="reduce"``).

    ``visit.first_load_bytes`` is the sum of the bytes received (response bodies, from Chrome's
    own network events) between navigation and network idle, before any interaction or scroll.
    """
    context = browser.new_context(java_script_enabled=javascript,
                                  viewport=viewport or {"width": 1280, "height": 900},
                                  **context_options)
    visit = PageVisit(url)

    def route(r: Any) -> None:
        if is_local(r.request.url, base):
            r.continue_()
        else:
            visit.blocked.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("console", lambda m: visit.console_errors.append(f"{m.text} ({m.location.get('url', '')})")
            if m.type == "error" else None)
    page.on("pageerror", lambda e: visit.page_errors.append(str(e)))
    page.on("request", lambda r: visit.requests.append(r.url))
    page.on("response", lambda r: visit.bad_responses.append(f"HTTP {r.status} {r.url}")
            if r.status >= 400 else None)
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    ids: dict[str, str] = {}
    cdp.on("Network.requestWillBeSent", lambda e: ids.__setitem__(e["requestId"], e["request"]["url"]))

    def received(e: dict[str, Any]) -> None:
        key = ids.get(e["requestId"], e["requestId"])
        visit.bytes_by_request[key] = visit.bytes_by_request.get(key, 0) + int(e.get("dataLength", 0))

    cdp.on("Network.dataReceived", received)
    try:
        page.goto(url, wait_until="load")
        with contextlib.suppress(Exception):
            page.wait_for_load_state("networkidle", timeout=10_000)
        visit.first_load_bytes = sum(visit.bytes_by_request.values())
        yield page, visit
    finally:
        context.close()


def reveal_deferred(page: Any, timeout_ms: int = 15_000) -> int:
    """Load what waits for the reader (embeds deferred by nnx-embeds.js, lazy images and frames).

    Called after the first-load measurement so the checks also cover what a reader who scrolls
    would load (an embedded page's own requests and console errors included). Returns how many
    deferred embeds it started.
    """
    started = page.evaluate("""() => {
      let n = 0;
      document.querySelectorAll('iframe[data-nnx-src]:not([src])').forEach(f => {
        f.setAttribute('src', f.getAttribute('data-nnx-src')); n++; });
      return n;
    }""")
    page.evaluate("""async () => {  // scroll through, as a reader would, so lazy media load
      const pause = () => new Promise(r => setTimeout(r, 50));
      for (let y = 0, i = 0; y < document.documentElement.scrollHeight && i < 40; y += innerHeight, i++) {
        scrollTo(0, y); await pause();
      }
      scrollTo(0, 0);
    }""")
    with contextlib.suppress(Exception):
        page.wait_for_load_state("networkidle", timeout=timeout_ms)
    return started


# --------------------------------------------------------------------------------------- checks
def console_problems(visit: PageVisit) -> list[str]:
    """Console errors and uncaught exceptions."""
    return ([f"{visit.url}: console error: {m}" for m in visit.console_errors]
            + [f"{visit.url}: uncaught exception: {m}" for m in visit.page_errors])


def external_request_problems(visit: PageVisit, base: str) -> list[str]:
    """Requests that tried to leave the local server (they were aborted)."""
    urls = sorted({u for u in visit.requests + visit.blocked if not is_local(u, base)})
    return [f"{visit.url}: request to another host: {u}" for u in urls]


def http_problems(visit: PageVisit) -> list[str]:
    """Responses with an error status seen while loading."""
    return [f"{visit.url}: {r}" for r in visit.bad_responses]


_REFERENCED_JS = """() => {
  const out = [];
  const add = (kind, v) => { if (v) out.push([kind, v]); };
  document.querySelectorAll('img').forEach(e => {
    add('img', e.getAttribute('src') && e.src);
    (e.getAttribute('srcset') || '').split(',').forEach(s => {
      const u = s.trim().split(/\\s+/)[0]; if (u) add('img srcset', new URL(u, document.baseURI).href);
    });
  });
  document.querySelectorAll('video').forEach(e => {
    add('video', e.getAttribute('src') && e.src); add('video poster', e.getAttribute('poster') && e.poster);
  });
  document.querySelectorAll('source').forEach(e => add('source', e.getAttribute('src') && e.src));
  document.querySelectorAll('iframe').forEach(e => {
    add('iframe', e.getAttribute('src') && e.src);
    const deferred = e.getAttribute('data-nnx-src');  // set as src by nnx-embeds.js when needed
    if (deferred) add('iframe (deferred)', new URL(deferred, document.baseURI).href);
  });
  document.querySelectorAll('script[src]').forEach(e => add('script', e.src));
  document.querySelectorAll('link[href]').forEach(e => {
    const rel = (e.getAttribute('rel') || '').toLowerCase();
    if (/stylesheet|icon|preload|modulepreload|manifest/.test(rel)) add('link ' + rel, e.href);
  });
  document.querySelectorAll('figure[data-nnx-frames]').forEach(e =>
    add('scrubber index', new URL(e.getAttribute('data-nnx-frames'), document.baseURI).href));
  document.querySelectorAll('[data-nnx-replay]').forEach(e =>
    add('live replay data', new URL(e.getAttribute('data-nnx-replay'), document.baseURI).href));
  document.querySelectorAll('template.nnx-replay-fallback').forEach(t =>  // shown if data fails
    t.content.querySelectorAll('*').forEach(e => ['src', 'poster', 'data-nnx-light', 'data-nnx-dark',
      'data-nnx-poster-light', 'data-nnx-poster-dark'].forEach(a => e.getAttribute(a) &&
      add('replay fallback ' + a, new URL(e.getAttribute(a), document.baseURI).href))));
  return out;
}"""


class UrlChecker:
    """HEAD requests against the local server, cached across pages."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.cache: dict[str, int | str] = {}

    def status(self, url: str) -> int | str:
        url = url.split("#", 1)[0]
        if url not in self.cache:
            try:
                req = urllib.request.Request(url, method="HEAD")
                with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - local only
                    self.cache[url] = resp.status
            except urllib.error.HTTPError as exc:
                self.cache[url] = exc.code
            except (urllib.error.URLError, OSError) as exc:
                self.cache[url] = str(exc)
        return self.cache[url]

    def get_json(self, url: str) -> Any:
        with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 - local only
            return json.loads(resp.read())


def resource_problems(page: Any, checker: UrlChecker) -> list[str]:
    """Every image, video, poster, source, iframe, script, stylesheet and scrubber frame resolves.

    ``mkdocs build --strict`` does not look inside raw ``<video>``/``<iframe>`` tags, and the
    scrubber's frames are named only in its index.json, so this checks them over HTTP.
    """
    problems = []
    for kind, url in page.evaluate(_REFERENCED_JS):
        if kind == "live replay data":
            problems += _live_data_problems(page.url, url, checker)
        if url.startswith(("data:", "blob:")):
            continue
        if not is_local(url, checker.base):
            problems.append(f"{page.url}: {kind} refers to another host: {url}")
            continue
        status = checker.status(url)
        if status != 200:
            problems.append(f"{page.url}: {kind} {url} -> {status}")
        elif kind == "scrubber index":
            problems += _frame_problems(page.url, url, checker)
    return problems


def _live_data_problems(page_url: str, index_url: str, checker: UrlChecker) -> list[str]:
    """A live replay's index names its binary file; that file must resolve too."""
    if checker.status(index_url) != 200:
        return []  # reported as the index's own status
    try:
        index = checker.get_json(index_url)
    except (OSError, ValueError) as exc:
        return [f"{page_url}: live replay data {index_url} unreadable: {exc}"]
    binary = urllib.parse.urljoin(index_url, str(index.get("bin", "")))
    status = checker.status(binary)
    return [] if status == 200 else [f"{page_url}: live replay binary {binary} -> {status}"]


def _frame_problems(page_url: str, index_url: str, checker: UrlChecker) -> list[str]:
    try:
        index = checker.get_json(index_url)
    except (OSError, ValueError) as exc:
        return [f"{page_url}: scrubber index {index_url} unreadable: {exc}"]
    epochs, files = index.get("epochs"), index.get("files")
    if not isinstance(epochs, list) or not isinstance(files, list) or len(epochs) != len(files):
        return [f"{page_url}: scrubber index {index_url} needs equal-length epochs and files"]
    problems = []
    for name in files:
        url = urllib.parse.urljoin(index_url, name)
        status = checker.status(url)
        if status != 200:
            problems.append(f"{page_url}: scrubber frame {url} -> {status}")
    return problems


def link_problems(page: Any, checker: UrlChecker) -> list[str]:
    """Links to pages of this site that do not resolve."""
    hrefs = page.evaluate("() => Array.from(document.querySelectorAll('a[href]'), a => a.href)")
    problems = []
    for href in sorted(set(hrefs)):
        if not href.startswith(checker.base):
            continue
        status = checker.status(href)
        if status != 200:
            problems.append(f"{page.url}: link {href} -> {status}")
    return problems


_MEDIA_JS = """() => {
  const out = [];
  const where = e => (e.getAttribute('src') || e.currentSrc || e.outerHTML.slice(0, 80));
  document.querySelectorAll('article img').forEach(e => {
    if (e.closest('[aria-hidden="true"]') || e.getAttribute('role') === 'presentation') return;
    out.push(['img', where(e), {alt: e.getAttribute('alt'), loading: e.getAttribute('loading')}]);
  });
  document.querySelectorAll('article video').forEach(e => out.push(['video', where(e.querySelector('source') || e), {
    poster: e.getAttribute('poster'), controls: e.hasAttribute('controls'),
    preload: e.getAttribute('preload'), label: e.getAttribute('aria-label') || e.title}]));
  document.querySelectorAll('article iframe').forEach(e => out.push(['iframe', where(e), {
    title: e.getAttribute('title'), loading: e.getAttribute('loading')}]));
  return out;
}"""


def media_problems(page: Any, *, notebook: bool = False) -> list[str]:
    """Accessible, deferred media: alt text, posters, controls, preload=metadata, lazy loading.

    Notebook pages (nbconvert output) are checked for alt text only: their images are the
    notebook's own outputs, shown in order with the code.
    """
    problems = []
    for kind, where, a in page.evaluate(_MEDIA_JS):
        if kind == "img":
            if (a["alt"] or "").strip().lower() in BAD_ALTS:
                problems.append(f"{page.url}: image {where} has no meaningful alt text ({a['alt']!r})")
            if a["loading"] != "lazy" and not notebook:
                problems.append(f"{page.url}: image {where} is not loading=lazy")
        elif kind == "video":
            for ok, what in ((a["poster"], "a poster"), (a["controls"], "controls"),
                             (a["preload"] in ("metadata", "none"), 'preload="metadata"'),
                             ((a["label"] or "").strip(), "an accessible label")):
                if not ok:
                    problems.append(f"{page.url}: video {where} lacks {what}")
        elif kind == "iframe":
            if not (a["title"] or "").strip():
                problems.append(f"{page.url}: iframe {where} has no title")
            if a["loading"] != "lazy":
                problems.append(f"{page.url}: iframe {where} is not loading=lazy")
    return problems


def ensure_axe(cache_dir: Path | None = None) -> Path:
    """Path of axe-core's ``axe.min.js``, installed with npm into a cache folder on first use.

    The folder is outside the repository (``$NNX_NODE_CACHE``, default
    ``~/.cache/nn-explainers/node``). Raises RuntimeError with npm's message when it cannot.
    """
    root = Path(cache_dir or os.environ.get("NNX_NODE_CACHE")
                or Path.home() / ".cache" / "nn-explainers" / "node")
    axe = root / "node_modules" / "axe-core" / "axe.min.js"
    if axe.exists():
        return axe
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is not installed; install Node.js (apt-get install -y npm) to run "
                           "the accessibility check")
    root.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [npm, "install", "--prefix", str(root), "--no-audit", "--no-fund", "--silent",
         "--no-save", f"axe-core@{AXE_VERSION}"],
        capture_output=True, text=True, timeout=300)
    if result.returncode != 0 or not axe.exists():
        raise RuntimeError(f"npm install axe-core@{AXE_VERSION} failed:\n{result.stderr[-2000:]}")
    return axe


def axe_problems(page: Any, axe_js: Path, impacts: tuple[str, ...] = ("serious", "critical"),
                 ) -> list[str]:
    """axe-core's violations of the given impact levels on the page as loaded.

    Finite CSS transitions and animations are let finish first (at most 2 s): measured half-way
    through one (the header's title fading in after a scroll), a colour is a blend of two and
    its contrast is neither the start's nor the end's.
    """
    page.add_script_tag(content=axe_js.read_text(encoding="utf-8"))
    result = page.evaluate("""async () => {
      const finite = document.getAnimations().filter(
        a => a.effect && a.effect.getComputedTiming().iterations !== Infinity);
      await Promise.race([Promise.all(finite.map(a => a.finished.catch(() => null))),
                          new Promise(done => setTimeout(done, 2000))]);
      const r = await axe.run(document, {resultTypes: ['violations']});
      return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
        nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))}));
    }""")
    return [f"{page.url}: axe {v['impact']} {v['id']}: {v['help']} at {', '.join(v['nodes'])}"
            for v in result if v["impact"] in impacts]


# ------------------------------------------------------------------------------------- scrubber
def _expected_position(index: dict[str, Any], epoch: int) -> int:
    best = 0
    for i, e in enumerate(index["epochs"]):
        if e <= epoch:
            best = i
    return best


def expected_frame(index: dict[str, Any], epoch: int) -> str:
    """The file a panel shows at ``epoch``: its last frame at or before it."""
    return str(index["files"][_expected_position(index, epoch)])


def expected_epoch(index: dict[str, Any], epoch: int) -> int:
    """The epoch a panel shows (its ``data-nnx-epoch``) when the scrubber is at ``epoch``."""
    return int(index["epochs"][_expected_position(index, epoch)])


_PANELS_JS = """() => Array.from(document.querySelectorAll('figure.nnx-video[data-nnx-frames]'), f => {
  const img = f.querySelector('.nnx-frame-stage img');
  const video = f.querySelector('video');
  return {index: new URL(f.getAttribute('data-nnx-frames'), document.baseURI).href,
          epoch: f.dataset.nnxEpoch || null, src: img ? img.src : null,
          ready: !!(img && img.complete && img.naturalWidth > 0), alt: img ? img.alt : null,
          videoHidden: video ? video.hidden
            : (f.querySelector('.nnx-compare-still') ? f.querySelector('.nnx-compare-still').hidden : true)};
})"""


def _panel_state_problems(page: Any, indexes: dict[str, Any], epoch: int, how: str) -> list[str]:
    problems = []
    label = page.locator(".nnx-scrubber output").inner_text().strip()
    if label != f"epoch {epoch}":
        problems.append(f"{page.url}: after {how} the label reads {label!r}, not 'epoch {epoch}'")
    for i, panel in enumerate(page.evaluate(_PANELS_JS)):
        want = urllib.parse.urljoin(panel["index"], expected_frame(indexes[panel["index"]], epoch))
        if panel["src"] != want or not panel["ready"]:
            problems.append(f"{page.url}: after {how} panel {i + 1} shows {panel['src']} "
                            f"(decoded: {panel['ready']}), expected {want}")
        if not panel["videoHidden"]:
            problems.append(f"{page.url}: after {how} panel {i + 1} still shows its video")
        if not (panel["alt"] or "").strip():
            problems.append(f"{page.url}: after {how} panel {i + 1}'s frame has no alt text")
    return problems


def scrubber_problems(page: Any, checker: UrlChecker, timeout_ms: int = 10_000) -> list[str]:
    """The slider moves every scrubbable panel to the same epoch (keyboard, slider, play).

    Returns [] on pages without scrubbable panels.
    """
    figures = page.locator("figure.nnx-video[data-nnx-frames]")
    if figures.count() == 0:
        return []
    try:
        page.wait_for_selector(".nnx-scrubber input[type=range]", timeout=timeout_ms)
    except Exception:  # noqa: BLE001 - playwright's TimeoutError; report it as a problem
        return [f"{page.url}: no scrubber appeared for {figures.count()} scrubbable panels"]
    indexes = {p["index"]: checker.get_json(p["index"]) for p in page.evaluate(_PANELS_JS)}
    epochs = sorted({int(e) for ix in indexes.values() for e in ix["epochs"]})
    problems: list[str] = []
    slider = page.locator(".nnx-scrubber input[type=range]")
    label_for = page.locator(f"label[for='{slider.get_attribute('id')}']")
    if label_for.count() != 1 or not label_for.inner_text().strip():
        problems.append(f"{page.url}: the scrubber's slider has no <label>")
    if len(epochs) < 2:
        return problems

    def settle(epoch: int) -> None:
        # The bar at `epoch` and each panel at ITS epoch: a panel recorded more sparsely shows its
        # last frame at or before `epoch`, so waiting for `epoch` on every panel would time out.
        want = {url: str(expected_epoch(ix, epoch)) for url, ix in indexes.items()}
        with contextlib.suppress(Exception):
            page.wait_for_function(
                """([want, e]) => document.querySelector('.nnx-scrubber').dataset.nnxEpoch === e
                     && Array.from(document.querySelectorAll('figure.nnx-video[data-nnx-frames]'))
                     .every(f => f.dataset.nnxEpoch
                                 === want[new URL(f.getAttribute('data-nnx-frames'), document.baseURI).href])""",
                arg=[want, str(epoch)], timeout=timeout_ms)

    slider.focus()
    page.keyboard.press("Home")
    settle(epochs[0])
    problems += _panel_state_problems(page, indexes, epochs[0], "pressing Home")
    page.keyboard.press("ArrowRight")
    settle(epochs[1])
    problems += _panel_state_problems(page, indexes, epochs[1], "pressing ArrowRight")
    # a middle epoch, never the last: play from the last epoch starts again at the first, and
    # the wait for the last epoch below would pass before the play had moved at all
    target = max(0, min(len(epochs) // 2 + 1, len(epochs) - 2))
    slider.fill(str(target))
    settle(epochs[target])
    problems += _panel_state_problems(page, indexes, epochs[target], "setting the slider")
    page.locator(".nnx-scrubber button").click()  # play to the end
    settle(epochs[-1])
    problems += _panel_state_problems(page, indexes, epochs[-1], "playing")
    try:
        page.wait_for_function("""() => document.querySelector('.nnx-scrubber button')
                                 .getAttribute('aria-pressed') !== 'true'""", timeout=timeout_ms)
    except Exception:  # noqa: BLE001 - playwright's TimeoutError
        problems.append(f"{page.url}: playback did not stop at the last epoch")
    return problems


# --------------------------------------------------------------------------------- live replays
_LIVE_JS = """i => {
  const f = document.querySelectorAll('figure.nnx-replay')[i];
  const g = window.nnxReplay && window.nnxReplay.groups.find(x => x.figure === f);
  const slider = f.querySelector('.nnx-rp-controls input[type=range]');
  const out = f.querySelector('.nnx-rp-controls output');
  const blank = Array.from(f.querySelectorAll('.nnx-rp-panel canvas')).filter(c => {
    if (!c.width || !c.height) return true;
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    for (let k = 3; k < d.length; k += 4) if (d[k]) return false;
    return true;
  }).length;
  return {live: f.classList.contains('nnx-replay-live'), epoch: f.dataset.nnxEpoch || null,
          epochs: g && g.epochs ? g.epochs : [], playing: !!(g && g.playing),
          fallbackShown: f.querySelectorAll('.nnx-replay-placeholder').length > 0
            || Array.from(f.querySelectorAll('video, .nnx-replay-run > img')).some(v => v.offsetParent !== null),
          canvases: f.querySelectorAll('.nnx-rp-panel canvas').length, blank,
          label: out ? out.textContent.trim() : null,
          valuetext: slider ? slider.getAttribute('aria-valuetext') : null,
          labelled: !!(slider && document.querySelector('label[for="' + slider.id + '"]'))};
}"""


def live_replay_problems(page: Any, timeout_ms: int = 15_000) -> list[str]:
    """Every live replay (``replay(...)`` shortcode) loads its data, draws every view, and its
    slider moves it from the keyboard (Home, ArrowRight, End) with the epoch read out in
    ``aria-valuetext``. Returns [] on pages without one.
    """
    figures = page.locator("figure.nnx-replay")
    problems: list[str] = []
    for i in range(figures.count()):
        where = f"{page.url}: live replay {i + 1}"
        figures.nth(i).scroll_into_view_if_needed()
        try:
            page.wait_for_function(
                "i => document.querySelectorAll('figure.nnx-replay')[i].classList"
                ".contains('nnx-replay-live')", arg=i, timeout=timeout_ms)
        except Exception:  # noqa: BLE001 - playwright's TimeoutError; report it
            problems.append(f"{where} was not drawn (did its data load?)")
            continue
        state = page.evaluate(_LIVE_JS, i)
        if state["fallbackShown"]:
            problems.append(f"{where}: its placeholder, poster or video is still shown")
        if not state["canvases"] or state["blank"]:
            problems.append(f"{where}: {state['blank']} of {state['canvases']} views are blank")
        if not state["labelled"]:
            problems.append(f"{where}: the epoch slider has no <label>")
        epochs = state["epochs"]
        slider = figures.nth(i).locator(".nnx-rp-controls input[type=range]")
        for key, want in (("Home", epochs[0]), ("ArrowRight", epochs[min(1, len(epochs) - 1)]),
                          ("End", epochs[-1])):
            slider.press(key)
            with contextlib.suppress(Exception):
                page.wait_for_function(
                    "([i, e]) => document.querySelectorAll('figure.nnx-replay')[i].dataset"
                    ".nnxEpoch === String(e)", arg=[i, want], timeout=timeout_ms)
            state = page.evaluate(_LIVE_JS, i)
            if state["epoch"] != str(want) or state["label"] != f"epoch {want}":
                problems.append(f"{where}: after {key} it shows {state['epoch']!r} "
                                f"({state['label']!r}), not epoch {want}")
            if not (state["valuetext"] or "").startswith(f"epoch {want} of {epochs[-1]}"):
                problems.append(f"{where}: after {key} aria-valuetext is {state['valuetext']!r}")
        if state["playing"]:
            problems.append(f"{where}: still playing after the reader moved the slider")
    return problems
