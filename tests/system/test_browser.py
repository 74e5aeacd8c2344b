"""End to end in a real browser: the demo's emulators, a run that leaves a conflict, the review
page in headless Chromium, a click, a run, and the chosen value in every system.

Needs Debian's `chromium` and `chromium-driver` (and the `selenium` dev dependency). Skipped
when they are missing, unless CONTACTSYNC_REQUIRE_BROWSER=1 (CI), where that is a failure.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from sync import conflicts, demo
from sync.config import load_config
from sync.engine import Engine
from sync.sandbox.serve import free_port
from sync.store.repo import Store
from sync.web import create_app

TOKEN = "browser-test-token-5d2a"
DRIVER = "/usr/bin/chromedriver"


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    binary = _chromium()
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        binary = None
    if binary is None or not os.access(DRIVER, os.X_OK):
        message = "chromium, chromium-driver (/usr/bin/chromedriver) or selenium is missing"
        if os.environ.get("CONTACTSYNC_REQUIRE_BROWSER") == "1":
            pytest.fail(f"CONTACTSYNC_REQUIRE_BROWSER=1 but {message}")
        pytest.skip(message)
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-quic",
        "--no-first-run",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(flag)
    # the driver path is explicit, so Selenium Manager never looks for (or downloads) one
    driver = webdriver.Chrome(service=Service(executable_path=DRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def click(browser: Any, element: Any, expect: str) -> None:
    """Click, then wait for the next page (a click returns before it has loaded)."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        element.click()
    except WebDriverException as exc:
        # under load the page may navigate before the driver's own after-click check, which
        # then finds its node gone: the click landed (the page below proves it)
        if "does not belong to the document" not in str(exc):
            raise
    wait = WebDriverWait(browser, 15)
    wait.until(expected_conditions.staleness_of(element))
    wait.until(lambda b: expect in b.page_source, f"{expect!r} never appeared")


class Served:
    def __init__(self, app: Any) -> None:
        self.port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "app did not start"
            time.sleep(0.02)
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def test_a_conflict_resolved_by_clicking_reaches_every_system(tmp_path: Path, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    emulators = demo.start_all()
    store = None
    app = None
    try:
        for vendor, people in demo.PEOPLE.items():
            for person in people:
                emulators[vendor].emulator.seed_person(person)
        settings = load_config(demo.write_config(tmp_path, emulators))
        store = Store(settings.state_url)
        asyncio.run(Engine(settings, store).run())
        [conflict] = conflicts.rows(store)
        assert (conflict["email"], conflict["field"]) == ("ada@example.org", "title")
        assert settings.review.token_env
        app = Served(create_app(settings, store, env={settings.review.token_env: TOKEN}))

        browser.get(app.url + "/")
        assert "ada@example.org" in browser.page_source
        assert "Countess" in browser.page_source and "Duchess" in browser.page_source
        browser.get(app.url + "/problems")
        assert "limit is 64" in browser.page_source  # the demo's failed record, with its reason
        browser.get(app.url + "/")
        click(browser, browser.find_element(By.ID, "login-link"), "Review token")
        browser.find_element(By.ID, "token").send_keys(TOKEN)
        click(browser, browser.find_element(By.ID, "login"), "Logged in")
        take = browser.find_element(By.ID, f"take-{conflict['id']}-superoffice")
        click(browser, take, f"Conflict {conflict['id']} resolved")
        assert TOKEN not in browser.page_source

        asyncio.run(Engine(settings, store).run())
        carriers = [n for n, s in settings.systems.items() if "title" in s.mapping.write_fields]
        assert len(carriers) >= 3
        for name in carriers:
            people = emulators[name].emulator.people()
            [ada] = [p for p in people if p.get("email") == "ada@example.org"]
            assert ada.get("title") == "Duchess", name
        assert conflicts.rows(store) == []
    finally:
        if app is not None:
            app.stop()
        if store is not None:
            store.dispose()
        for s in emulators.values():
            s.stop()


NARROW = 390  # CSS pixels: a phone held upright


def narrow(browser: Any) -> None:
    """The viewport of a phone: exactly NARROW CSS pixels wide."""
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": NARROW, "height": 844, "deviceScaleFactor": 1, "mobile": True},
    )


def page_width(browser: Any) -> int:
    width: int = browser.execute_script("return document.documentElement.scrollWidth")
    return width


def within_the_screen(browser: Any, element: Any) -> bool:
    box = browser.execute_script(
        "const r = arguments[0].getBoundingClientRect(); return [r.left, r.right, r.width];",
        element,
    )
    left, right, width = box
    return bool(width > 0 and left >= 0 and right <= NARROW)


def test_the_review_page_works_at_390_pixels(tmp_path: Path, browser: Any) -> None:
    """On a phone: no page scrolls sideways, every take, enter and dismiss action and the
    per-system allowance sit on the screen and work, wide tables scroll inside their card."""
    import dataclasses

    from selenium.webdriver.common.by import By

    from sync.config import ReviewSpec
    from tests.engine_helpers import World

    w = World(tmp_path, ["crm", "desk"], max_delete_fraction=0.25)
    w.add("crm", email="ada@example.org", title="Analyst")
    w.add("crm", first_name="No", last_name="Email")
    for i in range(8):
        w.add("crm", email=f"p{i}@example.org")
    w.sync()
    long_title = "Countess of Lovelace, first programmer of the Analytical Engine " * 2
    w.edit("crm", "ada@example.org", title=long_title, department="Mathematics")
    w.edit("desk", "ada@example.org", title="Duchess", department="Engines")
    for i in range(3):
        w.remove("crm", f"p{i}@example.org")
    w.sync()
    settings = dataclasses.replace(w.settings, review=ReviewSpec(token_env="CS_REVIEW"))
    app = Served(create_app(settings, w.store, env={"CS_REVIEW": TOKEN}))
    try:
        narrow(browser)
        browser.get(app.url + "/login")
        browser.find_element(By.ID, "token").send_keys(TOKEN)
        click(browser, browser.find_element(By.ID, "login"), "Logged in")
        for path in ("/", "/problems", "/runs", "/contact?email=ada@example.org"):
            browser.get(app.url + path)
            assert page_width(browser) <= NARROW, f"{path} scrolls sideways"
        browser.get(app.url + "/")
        rows = conflicts.rows(w.store)
        assert len(rows) == 2
        actions = [
            browser.find_element(By.ID, f"{kind}-{c['id']}")
            for c in rows
            for kind in ("value", "enter", "dismiss")
        ] + [
            browser.find_element(By.ID, f"take-{c['id']}-{system}")
            for c in rows
            for system in c["values"]
        ]
        for element in actions:
            assert within_the_screen(browser, element), element.get_attribute("id")
        [empty] = [c for c in rows if c["field"] == "department"]
        dismiss = browser.find_element(By.ID, f"dismiss-{empty['id']}")
        assert "keep it empty" in dismiss.text
        click(browser, dismiss, f"Conflict {empty['id']} resolved")

        browser.get(app.url + "/runs")
        tables = browser.find_elements(By.CSS_SELECTOR, "section.card .scroll")
        wide = [
            t
            for t in tables
            if browser.execute_script("return arguments[0].scrollWidth", t)
            > browser.execute_script("return arguments[0].clientWidth", t)
        ]
        assert wide, "a run's table is wider than a phone: it scrolls inside its card"
        assert all(
            browser.execute_script("return getComputedStyle(arguments[0]).overflowX", t) == "auto"
            for t in wide
        )
        assert page_width(browser) <= NARROW

        browser.get(app.url + "/problems")
        allow = browser.find_element(By.ID, "allow-all-crm")
        assert within_the_screen(browser, allow)
        click(browser, allow, "3 deletion(s) allowed")
    finally:
        app.stop()
        w.store.dispose()
    w.sync()
    assert len(w.records("desk")) == 6  # ada and p3..p7: the three allowed are gone
