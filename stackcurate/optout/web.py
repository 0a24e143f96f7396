"""``stackcurate serve RUN_DIR``: "Am I in the dataset?" and the opt-out request form (Flask + Jinja).

- ``GET /`` search form and request form; ``GET /owner?name=NAME`` the owner's repositories in the run's
  curated output with file counts, and the owner's opt-out status;
- ``GET|POST /attribute``: paste code, see whether it is in the dataset and its likely sources (needs
  ``stackcurate index build RUN_DIR``);
- ``POST /opt-out`` files a *pending* request in the opt-out log (approval only from the CLI) and redirects
  to ``GET /requests/<id>``, which shows its kind, target and status (``GET /api/requests/<id>`` the same
  as JSON). Ids are unguessable and no page, JSON or log line carries a requester's contact: contacts are
  read with ``stackcurate opt-out list`` only. A contact asking again for a pending target is sent to its
  pending request, answered exactly as a new request is, so the form tells nobody whether an address
  asked before;
- ``GET /stats``: the run's statistics with the charts of ``stackcurate stats --html`` (computed on the first
  visit, then kept).

Defences: every input is validated with the CLI's rules (``stackcurate.optout.store``); Jinja escapes all
output; the form carries a CSRF token (Flask-WTF); request bodies are capped (``max_body_bytes``); each
client address gets ``rate_limit`` requests per ``rate_window_s`` (429 beyond; the table forgets clients
idle for a window and holds at most ``max_clients``, so a flood of addresses cannot grow it); ``HEAD`` is
answered as ``GET`` (never runs an attribution, which needs a CSRF-checked ``POST``); responses forbid
scripts, framing and MIME sniffing (Content-Security-Policy ``default-src 'none'``; ``/stats`` also
allows ``data:`` images, its charts).
"""

from __future__ import annotations

import atexit
import os
import re
import threading
import time
from collections import Counter, OrderedDict, defaultdict, deque
from pathlib import Path
from typing import Any

from stackcurate.errors import FatalError
from stackcurate.optout.apply import OptOutList
from stackcurate.optout.store import OptOutError, OptOutStore, normalize_target
from stackcurate.parquet_io import iter_rows, list_parquet_files
from stackcurate.run_copy import is_remote, local_run_copy
from stackcurate.stats.html import TEMPLATES as STATS_TEMPLATES

#: request ids (``req-`` + token_urlsafe(16)); the guessable sequential ids of logs written before them
#: are not resolved here (the command line still reads them)
REQUEST_ID = re.compile(r"req-[A-Za-z0-9_-]{22}")
CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
#: the statistics page embeds its charts as PNG data URIs
STATS_CSP = f"{CSP}; img-src data:"


class RateLimiter:
    """At most ``limit`` requests per ``window_s`` seconds per client (sliding window, in memory).

    The table is bounded: clients are kept in order of their last request, those idle for a whole window
    are forgotten, and beyond ``max_clients`` (default 10,000, about 1 MB) the least recent one is dropped.
    A dropped client starts afresh, which lets a flood of addresses through at worst ``limit`` requests
    each, the same as without the table; memory no longer grows with the number of addresses seen."""

    def __init__(self, limit: int, window_s: float, max_clients: int = 10_000):
        self.limit = limit
        self.window_s = window_s
        self.max_clients = max_clients
        self.hits: OrderedDict[str, deque[float]] = OrderedDict()
        self.lock = threading.Lock()

    def allow(self, client: str) -> bool:
        now = time.monotonic()
        with self.lock:
            while self.hits:  # forget clients whose last request left the window
                oldest = next(iter(self.hits.values()))
                if oldest and now - oldest[-1] <= self.window_s:
                    break
                self.hits.popitem(last=False)
            hits = self.hits.setdefault(client, deque())
            self.hits.move_to_end(client)
            while hits and now - hits[0] > self.window_s:
                hits.popleft()
            if len(hits) >= self.limit:
                return False
            hits.append(now)
            while len(self.hits) > self.max_clients:
                self.hits.popitem(last=False)
            return True


def owner_index(run_dir: str | Path) -> dict[str, list[tuple[str, int]]]:
    """owner (lower case) -> [(repo, files)] of the run's curated output (local or an fsspec URL), read
    once at start (the ``repo`` column only)."""
    curated = f"{str(run_dir).rstrip('/')}/curated"
    if not list_parquet_files(curated):
        raise FatalError(f"{run_dir} has no curated output (expected {curated}/*.parquet)")
    counts = Counter(str(row["repo"]) for row in iter_rows(curated, columns=["repo"]))
    index: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for repo, n in sorted(counts.items()):
        index[repo.split("/", 1)[0].lower()].append((repo, n))
    return dict(index)


def create_app(
    run_dir: str | Path,
    opt_out_dir: str | Path,
    rate_limit: int = 60,
    rate_window_s: float = 60.0,
    max_body_bytes: int = 16 * 1024,
    csrf: bool = True,
) -> Any:
    try:
        from flask import Flask, abort, jsonify, redirect, render_template, request, url_for
        from flask_wtf.csrf import CSRFError, CSRFProtect
        from jinja2 import ChoiceLoader, FileSystemLoader
    except ImportError:
        raise FatalError("stackcurate serve needs Flask: pip install flask flask-wtf") from None
    owners = owner_index(run_dir)
    run_name = str(run_dir).rstrip("/").rsplit("/", 1)[-1]
    root = Path(run_dir)
    if is_remote(run_dir):  # an s3:// run: its attribution index is read from a local copy
        staging = local_run_copy(run_dir, folders=["index"])
        root = staging.__enter__()
        atexit.register(staging.__exit__, None, None, None)
    store = OptOutStore(opt_out_dir)
    limiter = RateLimiter(rate_limit, rate_window_s)
    templates = Path(__file__).with_name("templates")
    app = Flask(__name__, template_folder=str(templates))
    # stats.html includes the statistics body (stats/templates/) that the standalone report shows too
    app.jinja_loader = ChoiceLoader([FileSystemLoader(str(path)) for path in (templates, STATS_TEMPLATES)])
    app.config.update(
        SECRET_KEY=os.urandom(32),
        MAX_CONTENT_LENGTH=max_body_bytes,
        WTF_CSRF_ENABLED=csrf,
        WTF_CSRF_TIME_LIMIT=3600,
    )
    CSRFProtect(app)

    def page(template: str, code: int = 200, **context: Any) -> Any:
        digest = OptOutList.load(opt_out_dir).digest
        return render_template(template, run_name=run_name, digest=digest, **context), code

    @app.before_request
    def limit() -> Any:
        if not limiter.allow(request.remote_addr or "unknown"):
            retry = {"Retry-After": str(int(rate_window_s))}
            return "too many requests; try again in a minute\n", 429, retry
        return None

    @app.after_request
    def headers(response: Any) -> Any:
        response.headers["Content-Security-Policy"] = STATS_CSP if request.endpoint == "stats" else CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    @app.errorhandler(CSRFError)
    def csrf_error(error: Any) -> Any:
        message = f"the form expired or is invalid: {error.description}"
        return page("index.html", 400, repos=None, form_error=message)

    @app.errorhandler(413)
    def too_large(error: Any) -> Any:
        return "request body too large\n", 413

    @app.get("/")
    def index() -> Any:
        return page("index.html", repos=None)

    @app.get("/owner")
    def owner() -> Any:
        name = request.args.get("name", "")[:200]
        try:
            canonical = normalize_target("owner", name)
        except OptOutError as error:
            return page("index.html", 400, name=name, repos=None, error=str(error))
        repos = owners.get(canonical, [])
        status = next(
            (r.status for r in store.requests().values() if (r.kind, r.target) == ("owner", canonical)), None
        )
        total = sum(files for _, files in repos)
        return page("index.html", 200, name=name, owner=canonical, repos=repos, total=total, status=status)

    @app.post("/opt-out")
    def request_opt_out() -> Any:
        kind = request.form.get("kind", "owner")
        target = request.form.get("target", "")
        contact = request.form.get("contact") or None
        try:
            filed = store.request(kind, target, contact)
        except OptOutError as error:
            # the contact is neither echoed back nor logged: the page shows the rule it broke only
            return page("index.html", 400, repos=None, target=target, form_error=str(error))
        return redirect(url_for("show_request", request_id=filed.id), code=303)

    attributor: list[Any] = []
    app.extensions["stackcurate_attributor"] = attributor  # built on the first POST, never before

    @app.route("/attribute", methods=["GET", "POST"])
    def attribute() -> Any:
        if not (root / "index" / "meta.json").exists():
            return page(
                "attribute.html", 404, error=f"no attribution index: run `stackcurate index build {run_dir}`"
            )
        if request.method != "POST":  # GET and HEAD: the empty form; only a CSRF-checked POST attributes
            return page("attribute.html", result=None, snippet="")
        snippet = request.form.get("snippet", "")
        if not snippet.strip():
            return page("attribute.html", 400, result=None, snippet="", error="paste some code")
        if not attributor:
            from stackcurate.attribution.query import Attributor

            attributor.append(Attributor(root))
        return page("attribute.html", result=attributor[0].attribute(snippet), snippet=snippet)

    statistics: dict[str, Any] = {}
    statistics_lock = threading.Lock()

    @app.get("/stats")
    def stats() -> Any:
        with statistics_lock:  # one computation, however many visitors arrive at once
            if not statistics:
                from stackcurate.stats.html import report_context
                from stackcurate.stats.report import collect_report

                try:
                    report = collect_report(str(run_dir))
                except FatalError as error:
                    return page("stats.html", 404, error=str(error))
                report["run"] = run_name  # not the server's path
                statistics.update(report_context(report))
        return page("stats.html", **statistics)

    @app.get("/requests/<request_id>")
    def show_request(request_id: str) -> Any:
        if not REQUEST_ID.fullmatch(request_id):
            abort(404)
        filed = store.requests().get(request_id)
        if filed is None:
            abort(404)
        return page("request.html", request=filed.public())

    @app.get("/api/requests/<request_id>")
    def request_json(request_id: str) -> Any:
        filed = store.requests().get(request_id) if REQUEST_ID.fullmatch(request_id) else None
        if filed is None:
            abort(404)
        return jsonify(filed.public())

    return app


def serve(run_dir: str, opt_out_dir: str, host: str, port: int) -> None:
    """Run the app with Werkzeug's threaded server (a local tool; put a real server in front to publish),
    without Flask's development-server banner (raw colour codes in a log) and its per-request lines: one
    line says where the pages are."""
    import logging

    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = make_server(host, port, create_app(run_dir, opt_out_dir), threaded=True)
    base = f"http://{host}:{server.server_port}"
    print(
        f"serving {run_dir} on {base}/ (Ctrl-C to stop): {base}/ am I in the dataset, {base}/attribute, "
        f"{base}/stats",
        flush=True,
    )
    try:
        server.serve_forever()
    finally:
        server.server_close()
