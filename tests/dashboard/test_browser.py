"""The dashboard in a real browser: Debian's chromium, headless, driven by Selenium through chromium-driver,
against a real server on each backend. The page loads without console errors, every chart is there with
its numbers, login works, and a screenshot and a PDF print are kept under test-artefacts/ (git-ignored).

Skipped, with a message, only where no chromium or chromedriver can be found (`.ci/run` installs them)."""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import requests

from adapter.api.app import create_app
from adapter.config import PROJECT_ROOT, Settings
from adapter.store.engine import Store
from tests.conftest import FHIR_JSON_HEADERS, bearer
from tests.dashboard.helpers import CLIENT_TEXTS, COORDINATOR, PASSWORD, add_coordinator
from tests.live import LiveServer

ARTEFACTS = PROJECT_ROOT / "test-artefacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
CHARTS = (
    "referrals",
    "reach",
    "uptake",
    "enrolment-timing",
    "attrition",
    "dosage",
    "consult",
    "birth-outcomes",
    "themes",
)


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip(
            "no chromium/chromedriver on PATH: the dashboard's browser test needs Debian's chromium and "
            "chromium-driver (apt-get install -y chromium chromium-driver; .ci/run does so as root)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1440,1000"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        yield browser
    finally:
        browser.quit()


@pytest.fixture
def server(
    store: Store, settings: Settings, tmp_path: Path, referral: dict[str, Any]
) -> Iterator[LiveServer]:
    users = tmp_path / "users.yaml"
    add_coordinator(users)
    configured = replace(settings, users_file=users)
    live = LiveServer(app_factory=lambda url: create_app(replace(configured, base_url=url), store))
    with live:
        token = bearer(replace(configured, base_url=live.url))
        answer = requests.post(
            live.url + "/", data=json.dumps(referral), headers={**FHIR_JSON_HEADERS, **token}, timeout=60
        )
        assert answer.status_code == 200, answer.text
        yield live


def severe(driver: Any) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def log_in(driver: Any, url: str, password: str) -> None:
    from selenium.webdriver.common.by import By

    driver.delete_all_cookies()
    driver.get(url + "/dashboard?year=2026")
    assert driver.current_url.endswith("/dashboard/login"), driver.current_url
    driver.find_element(By.NAME, "username").send_keys("mdevries")
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "#login button[type=submit]").click()


def test_the_dashboard_in_a_browser(driver: Any, server: LiveServer, request: pytest.FixtureRequest) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import Select, WebDriverWait

    log_in(driver, server.url, "wrong password")
    # the click returns before the answer has loaded: wait for the message, not for the old page
    message = WebDriverWait(driver, 60).until(
        expected_conditions.presence_of_element_located((By.CSS_SELECTOR, ".message"))
    )
    assert "not right" in message.text
    driver.get_log("browser")  # the 401 of the wrong password is expected: forget it

    log_in(driver, server.url, PASSWORD)
    WebDriverWait(driver, 60).until(
        expected_conditions.presence_of_element_located((By.ID, "chart-referrals"))
    )
    assert severe(driver) == [], "console errors on the login"
    Select(driver.find_element(By.NAME, "year")).select_by_value("2026")
    driver.find_element(By.CSS_SELECTOR, ".period button").click()
    WebDriverWait(driver, 60).until(expected_conditions.presence_of_element_located((By.ID, "chart-dosage")))
    assert driver.current_url.endswith("/dashboard?year=2026")
    assert severe(driver) == [], "console errors on the dashboard"
    body = driver.find_element(By.TAG_NAME, "body").text
    assert COORDINATOR in body
    assert not any(text in body or text in driver.page_source for text in CLIENT_TEXTS)
    for key in CHARTS:
        section = driver.find_element(By.ID, f"chart-{key}")
        image = section.find_element(By.TAG_NAME, "img")
        width = driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth", image)
        assert width and width > 100, f"the {key} chart did not draw"
        cells = [c.text for c in section.find_elements(By.CSS_SELECTOR, "tbody td")]
        assert cells and any(c.strip() for c in cells), f"the {key} chart has no numbers"
    march = driver.find_element(By.XPATH, "//section[@id='chart-referrals']//tr[th='Mar']")
    assert [c.text for c in march.find_elements(By.TAG_NAME, "td")][-1] == "1"

    ARTEFACTS.mkdir(exist_ok=True)
    backend = request.node.callspec.params.get("store", "sqlite")
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1440, min(int(height) + 120, 8000))
    driver.save_screenshot(
        str(ARTEFACTS / ("dashboard.png" if backend == "sqlite" else f"dashboard-{backend}.png"))
    )
    pdf = base64.b64decode(driver.print_page())
    assert pdf.startswith(b"%PDF") and len(pdf) > 10_000
    (ARTEFACTS / f"dashboard-{backend}.pdf").write_bytes(pdf)
    driver.set_window_size(1440, 1000)

    driver.find_element(By.CSS_SELECTOR, ".who button").click()
    WebDriverWait(driver, 30).until(expected_conditions.url_contains("/dashboard/login"))
    driver.get(server.url + "/dashboard")
    assert driver.current_url.endswith("/dashboard/login")
