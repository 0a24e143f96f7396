"""``stackcurate serve``: the Flask app through its test client, and the pages in headless Chromium."""

from __future__ import annotations

import json
import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_optout import STARCODER, make_listing

from stackcurate.cli import main
from stackcurate.optout.store import OptOutStore
from stackcurate.optout.web import RateLimiter, create_app

INJECTED = '<script>document.title="pwned"</script>'


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from conftest import make_git_repo

    root = tmp_path_factory.mktemp("web")
    listing = make_listing(lambda name, files: make_git_repo(root / "repos", name, files), root)
    out = root / "run"
    no_record = f"stages.opt_out.folder={root / 'none'}"
    assert main(["run", STARCODER, "--repos", str(listing), "--out", str(out), "--set", no_record]) == 0
    return out


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match
    return match.group(1)


def test_search_request_and_status(run_dir: Path, tmp_path: Path) -> None:
    client = create_app(run_dir, tmp_path / "record").test_client()
    page = client.get("/owner?name=ALICE").get_data(as_text=True)
    assert "alice: 2 repositories, 6 files" in page and "Alice/tools" in page
    assert "No code of nobody" in client.get("/owner?name=nobody").get_data(as_text=True)
    token = csrf_token(client.get("/").get_data(as_text=True))
    response = client.post("/opt-out", data={"kind": "owner", "target": "alice", "csrf_token": token})
    assert response.status_code == 303
    status = client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'id="request-status">pending<' in status
    assert [r.target for r in OptOutStore(tmp_path / "record").requests().values()] == ["alice"]
    # someone else asking for the same owner is recorded too, under another unguessable id
    again = client.post("/opt-out", data={"kind": "owner", "target": "Alice", "csrf_token": token})
    assert again.status_code == 303 and again.headers["Location"] != response.headers["Location"]
    assert [r.target for r in OptOutStore(tmp_path / "record").requests().values()] == ["alice", "alice"]
    assert client.get("/requests/req-000001").status_code == 404


def test_forms_need_a_csrf_token_and_small_bodies(run_dir: Path, tmp_path: Path) -> None:
    client = create_app(run_dir, tmp_path / "record", max_body_bytes=2048).test_client()
    forged = client.post("/opt-out", data={"kind": "owner", "target": "alice"})
    assert forged.status_code == 400 and "CSRF" in forged.get_data(as_text=True)
    assert not (tmp_path / "record" / "requests.jsonl").exists()
    token = csrf_token(client.get("/").get_data(as_text=True))
    huge = client.post("/opt-out", data={"kind": "owner", "target": "a" * 5000, "csrf_token": token})
    assert huge.status_code == 413


def test_output_is_escaped_and_scripts_are_forbidden(run_dir: Path, tmp_path: Path) -> None:
    client = create_app(run_dir, tmp_path / "record").test_client()
    response = client.get("/owner", query_string={"name": INJECTED})
    body = response.get_data(as_text=True)
    assert response.status_code == 400 and INJECTED not in body and "&lt;script&gt;" in body
    assert "script-src" not in response.headers["Content-Security-Policy"]  # default-src 'none' covers it
    assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")


def test_clients_are_rate_limited(run_dir: Path, tmp_path: Path) -> None:
    client = create_app(run_dir, tmp_path / "record", rate_limit=5, rate_window_s=60).test_client()
    codes = [client.get("/").status_code for _ in range(7)]
    assert codes == [200] * 5 + [429] * 2


def test_no_page_json_or_log_line_shows_a_contact(
    run_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The served app over HTTP (Werkzeug's server, as `serve` runs it): contacts go in, none comes out."""
    import http.cookiejar
    import logging
    import urllib.parse
    import urllib.request

    from werkzeug.serving import make_server

    contacts = ["private.person@example.org", "second.person@example.org", "bad contact@x"]
    record = tmp_path / "record"
    caplog.set_level(logging.DEBUG)
    server = make_server("127.0.0.1", 0, create_app(run_dir, record), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    bodies: list[str] = []

    def fetch(path: str, form: dict[str, str] | None = None) -> str:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        try:
            with opener.open(base + path, data=data, timeout=30) as reply:
                body = reply.read().decode()
        except urllib.error.HTTPError as error:
            body = error.read().decode()
        bodies.append(body)
        return body

    try:
        token = csrf_token(fetch("/"))
        for contact in contacts:
            fetch("/opt-out", {"kind": "owner", "target": "alice", "contact": contact, "csrf_token": token})
            fetch("/opt-out", {"kind": "owner", "target": "-bad-", "contact": contact, "csrf_token": token})
        ids = list(OptOutStore(record).requests())
        assert len(ids) == 2  # the two valid contacts, both recorded
        store = OptOutStore(record)
        store.decide(ids[0], "approved")
        for each in ids:
            page = fetch(f"/requests/{each}")
            assert 'id="request-status">approved<' in page  # both requesters see the outcome
            assert json.loads(fetch(f"/api/requests/{each}")) == {
                "id": each,
                "kind": "owner",
                "target": "alice",
                "status": "approved",
            }
        for path in ("/", "/owner?name=alice", "/attribute", "/stats", "/requests/" + ids[0][:-1] + "x"):
            fetch(path)
    finally:
        server.shutdown()
    assert len(bodies) > 15
    logged = [record.getMessage() for record in caplog.records]
    assert any("/opt-out" in line for line in logged)  # the server did log its requests
    for text in [*bodies, *logged]:
        for contact in contacts:
            assert contact not in text and contact.split("@")[0] not in text


def test_a_repeated_request_is_answered_as_a_new_one(run_dir: Path, tmp_path: Path) -> None:
    """No contact oracle, over HTTP (Werkzeug's server, as `serve` runs it): posting an address that
    already asked for a target gets the same answer as one that never did -- a 303 to a pending request's
    page, the same headers and the same page but for the id -- and the log holds no second line."""
    import http.client
    import os
    import stat
    import urllib.parse

    from werkzeug.serving import make_server

    record = tmp_path / "record"
    server = make_server("127.0.0.1", 0, create_app(run_dir, record), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def exchange(method: str, path: str, cookie: str = "", form: dict[str, str] | None = None) -> Any:
        connection = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=30)
        headers = {"Cookie": cookie} if cookie else {}
        body = urllib.parse.urlencode(form) if form is not None else None
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        connection.request(method, path, body=body, headers=headers)
        reply = connection.getresponse()
        return reply.status, dict(reply.getheaders()), reply.read().decode()

    def post(contact: str) -> tuple[int, dict[str, str], str, str]:
        _, headers, page = exchange("GET", "/")
        cookie = headers["Set-Cookie"].split(";", 1)[0]
        form = {"kind": "owner", "target": "alice", "contact": contact, "csrf_token": csrf_token(page)}
        status, headers, _ = exchange("POST", "/opt-out", cookie, form)
        location = headers.get("Location", "")
        _, _, shown = exchange("GET", location)
        return status, headers, location, shown

    def shape(headers: dict[str, str], location: str, page: str) -> tuple[Any, ...]:
        request_id = location.rsplit("/", 1)[-1]
        kept = {k: v for k, v in headers.items() if k not in ("Date", "Location", "Content-Length")}
        return tuple(sorted(kept.items())), location.replace(request_id, "ID"), page.replace(request_id, "ID")

    try:
        victim = post("victim@example.org")  # the real owner asked
        repeated = post("victim@example.org")  # someone guesses the owner's address
        fresh = post("never.asked@example.org")  # an address that never asked
    finally:
        server.shutdown()
    assert victim[0] == repeated[0] == fresh[0] == 303
    assert shape(*repeated[1:]) == shape(*fresh[1:]) == shape(*victim[1:])
    assert 'id="request-status">pending<' in repeated[3] and "victim" not in repeated[3]
    log = record / "requests.jsonl"
    assert len(log.read_text().splitlines()) == 2  # the repeat appended nothing
    assert stat.S_IMODE(os.stat(log).st_mode) == 0o600  # it holds every contact: its owner's alone


def test_sequential_ids_of_old_logs_are_not_resolved(run_dir: Path, tmp_path: Path) -> None:
    record = tmp_path / "record"
    record.mkdir()
    old = {"id": "req-000001", "created": "2025-01-01T00:00:00+00:00", "kind": "owner", "target": "alice"}
    (record / "requests.jsonl").write_text(json.dumps({**old, "status": "pending"}) + "\n")
    assert [r.id for r in OptOutStore(record).requests().values()] == ["req-000001"]  # the CLI reads it
    client = create_app(run_dir, record).test_client()
    for path in ("/requests/req-000001", "/api/requests/req-000001"):
        assert client.get(path).status_code == 404  # a guessable id is never a page


def test_the_rate_limit_table_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    from stackcurate.optout import web

    # the limiter's clock, stepped by the test: the outcome must not depend on how fast the machine is
    now = [1000.0]
    monkeypatch.setattr(web, "time", types.SimpleNamespace(monotonic=lambda: now[0]))
    limiter = RateLimiter(limit=2, window_s=0.2, max_clients=100)
    assert all(limiter.allow(f"10.0.{i // 256}.{i % 256}") for i in range(5000))
    assert len(limiter.hits) == 100  # the least recent clients were forgotten
    assert limiter.allow("10.0.0.1") and limiter.allow("10.0.0.1") and not limiter.allow("10.0.0.1")
    now[0] += 0.3
    assert limiter.allow("192.168.0.1")
    assert list(limiter.hits) == ["192.168.0.1"]  # idle clients leave the table after a window


def test_head_on_attribute_runs_no_attribution(run_dir: Path, tmp_path: Path) -> None:
    from stackcurate.attribution.index import build_index

    run = tmp_path / "run"
    shutil.copytree(run_dir, run)  # the shared run stays without an index
    build_index(run)
    app = create_app(run, tmp_path / "record")
    client = app.test_client()
    snippet = {"snippet": "def function_0():\n    return 0\n"}
    head = client.open("/attribute", method="HEAD", data=snippet)
    assert head.status_code == 200 and head.get_data() == b""
    assert app.extensions["stackcurate_attributor"] == []  # nothing was attributed
    forged = client.post("/attribute", data=snippet)  # POST without the CSRF token
    assert forged.status_code == 400 and app.extensions["stackcurate_attributor"] == []


@pytest.fixture
def served(run_dir: Path, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    from werkzeug.serving import make_server

    record = tmp_path / "record"
    server = make_server("127.0.0.1", 0, create_app(run_dir, record), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", record
    finally:
        server.shutdown()


@pytest.mark.slow
def test_in_headless_chromium(served: tuple[str, Path], browser: Any) -> None:
    from selenium.webdriver.common.by import By

    base, record = served
    driver = browser
    driver.implicitly_wait(15)  # a click submits a form: look up elements of the next page once it is there
    try:
        driver.get(base + "/")
        driver.find_element(By.ID, "name").send_keys("alice")
        driver.find_element(By.CSS_SELECTOR, "#search button").click()
        assert "alice: 2 repositories, 6 files" in driver.find_element(By.ID, "result-title").text
        rows = driver.find_elements(By.CSS_SELECTOR, "#repos tr")
        assert [row.text for row in rows[1:]] == ["Alice/tools 3", "alice/site 3"]

        target = driver.find_element(By.ID, "target")
        target.clear()
        target.send_keys("alice")
        driver.find_element(By.ID, "contact").send_keys("alice@mail.org")
        driver.find_element(By.CSS_SELECTOR, "#opt-out button").click()
        assert driver.find_element(By.ID, "request-status").text == "pending"
        assert driver.find_element(By.ID, "request-target").text == "alice"

        driver.get(base + "/")
        driver.find_element(By.ID, "contact").send_keys(INJECTED)
        target = driver.find_element(By.ID, "target")
        target.clear()
        target.send_keys("bob")
        driver.find_element(By.CSS_SELECTOR, "#opt-out button").click()
        error = driver.find_element(By.ID, "form-error").text
        assert "invalid contact" in error and INJECTED not in driver.page_source  # never echoed back
        assert driver.title != "pwned"
        driver.implicitly_wait(0)  # expecting none: do not wait for one
        assert driver.find_elements(By.TAG_NAME, "script") == []
        requests = OptOutStore(record).requests()
        assert [(r.target, r.status) for r in requests.values()] == [("alice", "pending")]
    finally:
        driver.implicitly_wait(0)  # the session's browser: put the setting back


@pytest.mark.slow
def test_the_serve_command_answers(run_dir: Path, tmp_path: Path) -> None:
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "stackcurate.cli", "serve", str(run_dir), "--port", str(port)]
    server = subprocess.Popen([*command, "--opt-out-dir", str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/owner?name=bob", timeout=5) as reply:
                    assert "bob: 1 repositories, 3 files" in reply.read().decode()
                    break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, "serve did not start"
                time.sleep(0.2)
    finally:
        server.terminate()
        server.wait(timeout=30)
