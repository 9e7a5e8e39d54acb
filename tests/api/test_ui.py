"""The trace page in a real browser (Debian's chromium and chromedriver, installed by `make setup`)."""
from __future__ import annotations

from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from rag import Pipeline, Settings
from rag.api.app import create_app
from tests.conftest import CORPUS, free_port, wait_http
from tests.fake_openai import API_KEY, ServerThread

pytestmark = pytest.mark.integration
KEY = "ui-test-key-0123456789abcdef"
QUESTION = "What is the usual constant in reciprocal rank fusion?"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, embedder, fake_openai):
    store = tmp_path_factory.mktemp("ui") / "store"
    settings = Settings(store_path=store, answerer="openai", llm_base_url=fake_openai.url, llm_api_key=API_KEY,
                        llm_model="o3-mini", llm_max_retries=0, api_key=KEY)
    pipeline = Pipeline(settings, embedder=embedder)
    pipeline.ingest([CORPUS])
    with ServerThread(free_port(), create_app(settings, pipeline=pipeline)) as server:
        wait_http(f"{server.root}/readyz")
        yield server


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory):
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1400,1000", f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    yield driver
    driver.quit()


def _run(browser, *, question: str | None = None, key: str | None = None) -> str:
    if question is not None:
        box = browser.find_element(By.ID, "question")
        box.clear()
        box.send_keys(question)
    if key is not None:
        field = browser.find_element(By.ID, "key")
        field.clear()
        field.send_keys(key)
    before = browser.find_element(By.ID, "status").text
    browser.find_element(By.ID, "run").click()
    WebDriverWait(browser, 120).until(
        lambda d: (t := d.find_element(By.ID, "status").text) != before and t != "running...")
    return browser.find_element(By.ID, "status").text


def _in_frame(browser, frame: str, css: str) -> list:
    browser.switch_to.frame(browser.find_element(By.ID, frame))
    try:
        WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "h1"))
        return [e.text for e in browser.find_elements(By.CSS_SELECTOR, css)]
    finally:
        browser.switch_to.default_content()


def test_ask_see_the_trace_change_a_toggle_and_compare(service, browser, tmp_path: Path) -> None:
    browser.get(f"{service.root}/ui")
    assert browser.find_element(By.ID, "token_budget").get_attribute("value") == "350"  # the operator's
    assert "401" in _run(browser, question=QUESTION, key="not-the-key")
    assert "error" in browser.find_element(By.ID, "status").get_attribute("class")

    browser.find_element(By.ID, "answer").click()
    status = _run(browser, key=KEY)
    assert status.startswith("done") and "operator's settings" in status
    assert _in_frame(browser, "current", "h1") == [QUESTION]
    assert any("60" in m for m in _in_frame(browser, "current", "mark"))  # kept sentences highlighted
    assert _in_frame(browser, "current", "#answer a[href^='#kept-']")  # citations link to passages
    usage = _in_frame(browser, "current", "#usage")[0]
    assert "o3-mini" in usage and "reasoning" in usage and "cost $" in usage
    stages = _in_frame(browser, "current", "#stages tr")
    assert any(row.startswith("candidates") for row in stages) and any(row.startswith("budget") for row in stages)
    assert len(_in_frame(browser, "current", "#dropped tr.dropped")) >= 5  # why each candidate went
    browser.save_screenshot(str(tmp_path / "ui.png"))

    browser.find_element(By.ID, "answer").click()  # retrieval only, on a smaller budget
    budget = browser.find_element(By.ID, "token_budget")
    budget.clear()
    budget.send_keys("40")
    status = _run(browser)
    assert status.startswith("done") and '"token_budget":40' in status
    assert _in_frame(browser, "current", "#answer") == []
    summary = _in_frame(browser, "current", "#summary")[0]
    assert int(summary.split(" tokens")[0].split()[-1]) <= 40
    assert _in_frame(browser, "previous", "#answer")  # the run before stays beside it
    browser.save_screenshot(str(tmp_path / "ui-compare.png"))

    budget.clear()
    budget.send_keys("1000000")  # over the operator's ceiling: refused, the field named
    status = _run(browser)
    assert status.startswith("422") and "token_budget" in status
