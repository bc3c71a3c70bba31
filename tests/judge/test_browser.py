"""The judging page in a real browser: Debian's chromium driven by Selenium through /usr/bin/chromedriver.

Five demo questions are judged by keyboard only (grades, a skip, an undo, a note); the server is killed part-way
(SIGKILL, as a crash) and started again; the page picks up where it stopped; the written qrels must equal what was
typed, and `bench --dataset` must read the folder.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), "/usr/bin/chromedriver"
pytestmark = [
    pytest.mark.skipif(
        CHROMIUM is None or not Path(CHROMEDRIVER).exists(),
        reason="Debian packages chromium and chromium-driver not installed (.ci/run installs them)",
    ),
    pytest.mark.slow,  # a browser, two judge processes and a bench: about half a minute
]
QUESTIONS = [
    "When was the iPhone released?",
    "why does my phone battery hold less charge over time",
    "IP68 rating meaning",
    "who invented the telephone",
    "first practical automobile",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_judge(out: Path, questions: Path, port: int) -> subprocess.Popen:
    command = [sys.executable, "-m", "embedproof", "judge", "demo", "--out", str(out), "--questions", str(questions),
               "-m", "bm25", "-m", "hashing", "--top-k", "2", "--port", str(port), "--judge", "tester"]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "EMBEDPROOF_BACKEND": "torch"}
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/state", timeout=2).close()
            return proc
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                raise AssertionError(f"judge did not start: {proc.communicate()[1][-2000:]}") from None
            time.sleep(0.2)


@pytest.fixture
def browser(tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1200,900",
                 f"--user-data-dir={tmp_path / 'profile'}"):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def renders(driver) -> int:
    return int(driver.find_element("tag name", "body").get_attribute("data-renders") or 0)


def press(driver, keys: str, element=None) -> None:
    """Type `keys` and wait until the page has drawn the server's answer."""
    from selenium.webdriver.support.ui import WebDriverWait

    before = renders(driver)
    (element or driver.find_element("tag name", "body")).send_keys(keys)
    WebDriverWait(driver, 20).until(lambda d: renders(d) > before)
    assert "not saved" not in driver.find_element("id", "status").text


def shown(driver) -> tuple[str, str] | None:
    if not driver.find_element("id", "item").is_displayed():
        return None
    where = driver.find_element("id", "where").text
    qid, doc = re.search(r"\((q\d+), (\S+)\)$", where).groups()
    return qid, doc


def open_page(driver, port: int) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(f"http://127.0.0.1:{port}/")
    WebDriverWait(driver, 20).until(lambda d: renders(d) >= 1)


def test_judging_by_keyboard_survives_a_killed_server_and_bench_reads_the_result(tmp_path, browser):
    from selenium.webdriver.common.keys import Keys

    questions = tmp_path / "questions.txt"
    questions.write_text("\n".join(QUESTIONS) + "\n", encoding="utf-8")
    out, port = tmp_path / "judged", free_port()
    typed: dict[tuple[str, str], int] = {}
    skipped: set[tuple[str, str]] = set()
    proc = start_judge(out, questions, port)
    try:
        open_page(browser, port)
        assert "IP68" not in browser.find_element("id", "question").text  # q1 first (file order)
        highlighted = [b.text.lower() for b in browser.find_elements("css selector", "#question b.hl")]
        assert highlighted == ["iphone", "released"]
        # the first document: a note, then grade 2
        pair = shown(browser)
        browser.find_element("tag name", "body").send_keys("n")
        browser.switch_to.active_element.send_keys("dates the launch" + Keys.ESCAPE)
        press(browser, "2")
        typed[pair] = 2
        # a grade taken back with undo, then given again
        pair = shown(browser)
        press(browser, "0")
        press(browser, "u")
        assert shown(browser) == pair
        press(browser, "1")
        typed[pair] = 1
        pair = shown(browser)
        press(browser, "s")  # skipped: not in the qrels
        skipped.add(pair)
        step = 0
        while len(typed) + len(skipped) < 9:
            pair = shown(browser)
            grade = step % 3
            press(browser, str(grade))
            typed[pair] = grade
            step += 1
        pooled = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/api/state").read())["progress"]["pooled"]
        assert pooled > 12  # the kill lands part-way
    finally:
        proc.send_signal(signal.SIGKILL)  # a crash: no shutdown, no summary
        proc.wait(timeout=10)
    proc = start_judge(out, questions, port)
    try:
        open_page(browser, port)
        assert browser.find_element("id", "progress").text.startswith("judged 9 of ")
        while (pair := shown(browser)) is not None:
            grade = step % 3
            press(browser, str(grade))
            typed[pair] = grade
            step += 1
        assert browser.find_element("id", "done").is_displayed()
        assert "How much to judge" in browser.find_element("id", "power").text
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
    assert len(typed) + len(skipped) == pooled
    rows = (out / "qrels" / "test.tsv").read_text().splitlines()
    assert rows[0] == "query-id\tcorpus-id\tscore"
    assert {(q, d): int(g) for q, d, g in (r.split("\t") for r in rows[1:])} == typed
    log = [json.loads(line) for line in (out / "judgments.jsonl").read_text().splitlines()]
    assert any(e.get("note") == "dates the launch" for e in log)
    # bench reads the folder like any collection
    results = tmp_path / "results.json"
    done = subprocess.run(
        [sys.executable, "-m", "embedproof", "bench", "--dataset", str(out), "-m", "bm25", "--no-latency",
         "-o", str(results), "--bootstrap-resamples", "1000", "--permutation-resamples", "1000"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    benched = json.loads(results.read_text())["dataset"]
    assert benched["documents"] == 240 and benched["judged_queries"] == 5
    assert benched["judgments"] == len(typed)
