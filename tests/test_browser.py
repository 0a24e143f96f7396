"""Every page of ``stackcurate serve`` and the HTML report, looked at in headless Chromium as a user would:
each page is opened, screenshotted (kept under the test's tmp folder) and read back element by element."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from conftest import BROWSER_WINDOW

from stackcurate.cli import main
from stackcurate.optout.web import create_app

FORGE = "https://github.com/alice/site"


@pytest.fixture(scope="module")
def served_run(corpus_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    from werkzeug.serving import make_server

    # a copy of the session's run (this test rewrites its curated files), its repositories beside it
    root = tmp_path_factory.mktemp("browser")
    out = root / "run"
    shutil.copytree(corpus_run, out, symlinks=True)
    (root / "repos").symlink_to(corpus_run.parent / "repos")
    # as if alice/site had been cloned from GitHub: the attribution page links its files there
    for path in sorted((out / "curated").glob("*.parquet")):
        table = pq.read_table(path)
        urls = [FORGE if repo == "alice/site" else url for repo, url in zip(
            table["repo"].to_pylist(), table["repo_url"].to_pylist(), strict=True)]  # fmt: skip
        index = table.schema.get_field_index("repo_url")
        pq.write_table(table.set_column(index, "repo_url", [urls]), path)
    assert main(["index", "build", str(out)]) == 0
    assert main(["stats", str(out), "--html", str(out / "report.html")]) == 0
    server = make_server("127.0.0.1", 0, create_app(out, root / "record"), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", out
    finally:
        server.shutdown()


@pytest.fixture
def driver(browser: Any) -> Iterator[Any]:
    """The session's Chromium (``conftest.browser``), waiting up to 15 s for an element to appear; its
    settings are put back after the test."""
    browser.set_window_size(1200, 1000)
    browser.implicitly_wait(15)
    try:
        yield browser
    finally:
        browser.implicitly_wait(0)
        browser.set_window_size(*BROWSER_WINDOW)


def screenshot(driver: Any, folder: Path, name: str) -> None:
    """The whole page as a PNG (the window grown to the page's height); it must hold a real page."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1200, min(max(int(height), 600), 12000))
    path = folder / f"{name}.png"
    assert driver.save_screenshot(str(path)) and path.stat().st_size > 10_000, name


def images_drawn(driver: Any) -> int:
    from selenium.webdriver.common.by import By

    images = driver.find_elements(By.TAG_NAME, "img")
    for image in images:
        assert driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth", image) > 0
    return len(images)


@pytest.mark.slow  # needs Debian's chromium: `make test` installs it, `make test-fast` does not
def test_every_page_and_the_report(served_run: tuple[str, Path], driver: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    base, out = served_run
    driver.get(base + "/")
    assert driver.find_element(By.ID, "search").is_displayed()
    screenshot(driver, tmp_path, "index")

    driver.find_element(By.ID, "name").send_keys("alice")
    driver.find_element(By.CSS_SELECTOR, "#search button").click()
    assert "alice: 2 repositories" in driver.find_element(By.ID, "result-title").text
    rows = [row.text for row in driver.find_elements(By.CSS_SELECTOR, "#repos tr")[1:]]
    assert "alice/site 3" in rows
    screenshot(driver, tmp_path, "owner")

    driver.find_element(By.CSS_SELECTOR, '#opt-out input[value="repo"]').click()
    target = driver.find_element(By.ID, "target")
    target.clear()
    target.send_keys("alice/site")
    driver.find_element(By.CSS_SELECTOR, "#opt-out button").click()
    assert driver.find_element(By.ID, "request-status").text == "pending"
    screenshot(driver, tmp_path, "request")

    # attribution: a copied file's passage keeps its lines, and the file links to its page on the forge
    source = (out.parent / "repos" / "alice" / "site" / "app" / "v1.py").read_text()
    rows = pq.read_table(sorted((out / "curated").glob("*.parquet")), columns=["repo", "commit"]).to_pylist()
    commit = next(row["commit"] for row in rows if row["repo"] == "alice/site")
    driver.get(base + "/attribute")
    driver.find_element(By.ID, "snippet").send_keys(source)
    driver.find_element(By.CSS_SELECTOR, "#attribute button").click()
    assert driver.find_element(By.ID, "verdict").text.startswith("likely copied from the dataset")
    passage = driver.find_element(By.CSS_SELECTOR, "#spans pre.passage")
    assert passage.text.count("\n") >= 10 and passage.size["height"] > 150  # lines kept, not squashed
    link = driver.find_element(By.CSS_SELECTOR, "#candidates a")
    assert link.text == "app/v1.py" and link.get_attribute("href") == f"{FORGE}/blob/{commit}/app/v1.py"
    screenshot(driver, tmp_path, "attribute")

    driver.get(base + "/stats")
    assert "starcoder" in driver.find_element(By.ID, "metadata-table").text
    funnel = driver.find_element(By.ID, "funnel-table").text
    assert "near_pairs" in funnel and "curate" in funnel and "quality" in funnel
    assert images_drawn(driver) >= 5
    screenshot(driver, tmp_path, "stats")

    driver.get((out / "report.html").as_uri())
    assert driver.title.startswith("Statistics of")
    for section in ("metadata-table", "funnel-table", "tokens-table", "shards-table", "dedup-table"):
        assert driver.find_element(By.ID, section).is_displayed(), section
    assert "exact duplicates removed" in driver.find_element(By.ID, "dedup-table").text
    assert "shard-00000.parquet" in driver.find_element(By.ID, "shards-table").text
    assert images_drawn(driver) >= 5
    screenshot(driver, tmp_path, "report")
