"""The HTML report as a person sees it: opened from disk in headless Chromium (Debian's
``chromium`` and ``chromium-driver``, installed by ``.ci/run``).

Skipped when Chromium is not installed, unless CARBONPLAN_REQUIRE_BROWSER=1 (as in CI), where
a missing browser is a failure.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from recommender.cli import main

CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture
def browser(tmp_path):
    if not (Path(CHROMEDRIVER).exists() and Path(CHROMIUM).exists()):
        message = "needs Debian's chromium and chromium-driver (apt-get install ...)"
        if os.environ.get("CARBONPLAN_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM  # never let selenium look for (or fetch) a browser
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--window-size=1280,2000",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def test_report_opens_in_a_browser_without_errors(browser, tmp_path, monkeypatch):
    monkeypatch.setenv("CARBONPLAN_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "r"
    args = ["report", "--gpu-hours", "400", "--baseline", "aws:us-east-1", "--top", "12"]
    buffer = io.StringIO()
    with redirect_stdout(buffer), redirect_stderr(io.StringIO()):
        assert main([*args, "--out", str(out), "--format", "json"]) == 0
    made = json.loads(buffer.getvalue())

    browser.get((out / "report.html").resolve().as_uri())
    assert browser.title.startswith("Where to run 400 GPU-hours on A100")

    errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    assert errors == []
    fetched = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
    )
    assert [url for url in fetched if not url.startswith("data:")] == []  # works offline

    images = browser.execute_script(
        "return Array.from(document.images).map(i => ({id: i.id, alt: i.alt, done: i.complete,"
        " w: i.naturalWidth, h: i.naturalHeight, shown: i.getBoundingClientRect().width}))"
    )
    assert [i["id"] for i in images] == ["tradeoff-chart", "regions-chart"]
    for image in images:
        assert image["done"] and image["w"] > 500 and image["h"] > 300, image
        assert image["shown"] > 300 and image["alt"], image

    rows = browser.execute_script(
        "return Array.from(document.querySelectorAll('#options tbody tr'))"
        ".map(r => Array.from(r.cells).map(c => c.textContent.trim()))"
    )
    top = int(args[args.index("--top") + 1])
    assert len(rows) == top  # the table keeps --top
    assert [r[0] for r in rows] == [str(i) for i in range(1, top + 1)]
    assert rows[0][2] == made["recommended"]["provider"]
    assert rows[0][4] == made["recommended"]["instance_type"]
    ladder = browser.execute_script(
        "return document.querySelectorAll('#budget-ladder tbody tr').length"
    )
    assert ladder == len(made["budget_ladder"]) >= 5
    headings = browser.execute_script(
        "return Array.from(document.querySelectorAll('h1, h2')).map(h => h.textContent)"
    )
    assert headings[0].startswith("Where to run") and "Budget ladder" in " ".join(headings)

    shot = tmp_path / "report-screenshot.png"
    assert browser.save_screenshot(str(shot))
    assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 20_000

    from selenium.webdriver.common.print_page_options import PrintOptions

    pdf = base64.b64decode(browser.print_page(PrintOptions()))
    pages = re.findall(rb"/Type\s*/Page[^s]", pdf)
    assert pdf.startswith(b"%PDF") and len(pages) > 2  # it prints, over several pages
