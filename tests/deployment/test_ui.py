"""What users see: Airflow 3's own UI (its React app), driven in headless Chromium.

The same promise as test_isolation.py, read from the rendered pages instead of the REST
API: log in through the login page, see every good DAG listed next to the import-error
badge of a broken spec, open the badge and read the spec's path:line:col, and see a
DAG's tasks in its graph and its Tasks tab. Each check saves a full-page screenshot in
tests/deployment/artifacts/ (git-ignored), also when it fails.
"""

from __future__ import annotations

import base64
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import PARSE_INTERVAL, Bed, _need

pytestmark = [pytest.mark.docker, pytest.mark.slow]

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,900",
)
UI_TIMEOUT = 60  # seconds: the React app renders after its own API calls return
MAX_SHOT_HEIGHT = 8000  # pixels

TYPO = "description: a typo\ntasks:\n  a:\n    image: img:1\n    comand: [run]\n"
TYPO_LINE = "specs/examples/zz_ui_broken.yaml:5:5: unknown key 'comand' in task 'a' (did you mean 'command'?)"
ONE_PARSE_CYCLE = 2 * PARSE_INTERVAL + 15
HELLO_TASKS = {"extract", "totals", "publish", "cleanup", "cleanup_done", "verdict"}

# How far the page, or any scrolling box in it, extends below what the viewport shows.
_OVERFLOW_JS = """
let extra = document.documentElement.scrollHeight - document.documentElement.clientHeight;
for (const e of document.querySelectorAll('*')) {
  if (/(auto|scroll)/.test(getComputedStyle(e).overflowY)) {
    extra = Math.max(extra, e.scrollHeight - e.clientHeight);
  }
}
return Math.max(0, extra);
"""
_TWO_FRAMES_JS = (
    "const done = arguments[arguments.length - 1];requestAnimationFrame(() => requestAnimationFrame(done));"
)


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Debian's Chromium and chromedriver, named explicitly: Selenium Manager never runs."""
    for binary in (CHROMIUM, CHROMEDRIVER):
        if not Path(binary).exists():
            _need(f"{binary} is not installed (Debian packages chromium and chromium-driver)")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _need("selenium is not installed in this environment")
    monkeypatch.setenv("SE_OFFLINE", "true")
    profile = tempfile.mkdtemp(prefix="factory-ui-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_script_timeout(30)
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


# -- helpers ------------------------------------------------------------------------------


def _screenshot(driver: Any, name: str) -> Path:
    """The whole page, not only the viewport: the app scrolls inside its own boxes, so
    grow the viewport until nothing is left below it, capture, and restore it."""
    width, height = driver.execute_script("return [window.innerWidth, window.innerHeight]")
    try:
        for _ in range(4):
            extra = driver.execute_script(_OVERFLOW_JS)
            if extra <= 0 or height >= MAX_SHOT_HEIGHT:
                break
            height = min(height + extra, MAX_SHOT_HEIGHT)
            metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}
            driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
            driver.execute_async_script(_TWO_FRAMES_JS)
        shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    path = ARTIFACTS / name
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


def _text(driver: Any) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.TAG_NAME, "body").text


def _until(driver: Any, what: str, condition: Callable[[Any], Any], shot: str) -> Any:
    """Wait for the app to show something; if it never does, keep a screenshot and fail."""
    from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(driver, UI_TIMEOUT, poll_frequency=0.5, ignored_exceptions=[StaleElementReferenceException])
    try:
        return wait.until(condition)
    except TimeoutException:
        saved = _screenshot(driver, shot)
        pytest.fail(
            f"{what}: not shown within {UI_TIMEOUT}s on {driver.current_url} (screenshot {saved}); "
            f"the page reads:\n{_text(driver)[:3000]}"
        )


def _log_in(driver: Any, bed: Bed, shots: bool = False) -> None:
    """Through the login page of SimpleAuthManager, as a user does: / sends you there."""
    from selenium.webdriver.common.by import By

    driver.get(bed.deployment.url + "/")
    username = _until(
        driver,
        "the login form",
        lambda d: "/auth/login" in d.current_url and _displayed(d, By.CSS_SELECTOR, "form input[name='username']"),
        "ui-login-page.png",
    )
    assert "Sign into Airflow" in _text(driver)
    username.send_keys("admin")
    driver.find_element(By.CSS_SELECTOR, "form input[name='password'][type='password']").send_keys(
        bed.deployment.password()
    )
    submit = _until(
        driver,
        "the enabled Sign in button",
        lambda d: (b := d.find_element(By.CSS_SELECTOR, "form button[type='submit']")).is_enabled() and b,
        "ui-login-page.png",
    )
    assert submit.text == "Sign in"
    if shots:
        _screenshot(driver, "ui-login-page.png")
    submit.click()
    _until(
        driver,
        "the app's navigation after logging in",
        lambda d: (
            "/auth/login" not in d.current_url and _displayed(d, By.CSS_SELECTOR, "a[data-testid='nav-dags-link']")
        ),
        "ui-logged-in.png",
    )
    if shots:
        _until(driver, "the home page", lambda d: "Welcome" in _text(d), "ui-logged-in.png")
        _screenshot(driver, "ui-logged-in.png")


def _displayed(driver: Any, by: str, selector: str) -> Any:
    found = [e for e in driver.find_elements(by, selector) if e.is_displayed()]
    return found[0] if found else None


# -- the checks ---------------------------------------------------------------------------


def test_the_dag_list_shows_every_good_dag_and_the_broken_spec_s_import_error_with_its_line(
    bed: Bed, browser: Any
) -> None:
    from selenium.webdriver.common.by import By

    broken = bed.specs / "examples" / "zz_ui_broken.yaml"
    broken.write_text(TYPO)
    try:
        bed.wait(
            "the broken spec reported",
            lambda: any(TYPO_LINE in e["stack_trace"] for e in bed.factory_errors()),
        )
        good = bed.api.dag_ids()
        errors = len(bed.api.import_errors())
        assert {"examples.hello", "sales.daily_rollup"} <= good and errors == 1

        # 1. Logging in, through the form.
        _log_in(browser, bed, shots=True)

        # 2a. The DAG list: every good DAG, one card each, and the import-error badge.
        shot = "ui-dag-list-with-import-error.png"
        browser.get(bed.deployment.url + "/dags")

        def listed(d: Any) -> list[str]:
            return [a.text for a in d.find_elements(By.CSS_SELECTOR, "a[data-testid='dag-id']")]

        _until(browser, f"the {len(good)} good DAGs listed", lambda d: set(listed(d)) == good, shot)
        badge_css = "button[data-testid='state-badge'][aria-label^='Dag Import Error']"
        badge = _until(
            browser,
            f"the import-error badge, showing {errors}",
            lambda d: (b := _displayed(d, By.CSS_SELECTOR, badge_css)) and b.text == str(errors) and b,
            shot,
        )
        _screenshot(browser, shot)
        page = _text(browser)
        rows = listed(browser)
        assert sorted(rows) == sorted(good), rows  # one row per DAG: none missing, none twice
        assert f"{len(good)} Dags" in page
        assert "examples.hello" in page and "sales.daily_rollup" in page
        assert "zz_ui_broken" not in page  # the broken spec has no DAG
        assert badge.get_attribute("title") == "Dag Import Error" and badge.text == "1"

        # 2b. The badge opens the import errors: the reporter file, and in it the spec's line.
        shot = "ui-import-errors.png"
        badge.click()
        dialog = _until(
            browser,
            "the import-error dialog",
            lambda d: (
                (x := _displayed(d, By.CSS_SELECTOR, "[role='dialog']")) and "factory_spec_errors.py" in x.text and x
            ),
            shot,
        )
        items = [
            i for i in dialog.find_elements(By.CSS_SELECTOR, "[data-part='item']") if "factory_spec_errors.py" in i.text
        ]
        assert len(items) == 1, [i.text for i in items]
        items[0].find_element(By.CSS_SELECTOR, "button[data-part='item-trigger']").click()
        dialog = _until(
            browser,
            "the spec's path:line:col in the dialog",
            lambda d: (x := _displayed(d, By.CSS_SELECTOR, "[role='dialog']")) and TYPO_LINE in x.text and x,
            shot,
        )
        _screenshot(browser, shot)
        shown = dialog.text
        assert "Dag Import Error" in shown
        assert "specs/examples/zz_ui_broken.yaml:5:5" in shown
        assert TYPO_LINE in shown.splitlines()
        assert re.search(r"SpecErrors: 1 of \d+ spec files have errors and are not loaded", shown), shown
    finally:
        broken.unlink(missing_ok=True)
    bed.wait("the import error cleared", lambda: not bed.factory_errors(), ONE_PARSE_CYCLE)


def test_a_dag_page_shows_its_tasks_in_the_graph_and_the_tasks_tab(bed: Bed, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    tasks = bed.api.get("/dags/examples.hello/tasks")["tasks"]
    assert {t["task_id"] for t in tasks} == HELLO_TASKS
    edges = {(t["task_id"], down) for t in tasks for down in t["downstream_task_ids"]}
    _log_in(browser, bed)

    # The graph: one node per task, one edge per dependency.
    shot = "ui-dag-graph.png"
    browser.get(bed.deployment.url + "/dags/examples.hello")
    graph = _until(
        browser,
        "the Show Graph button",
        lambda d: _displayed(d, By.CSS_SELECTOR, "button[aria-label^='Show Graph']"),
        shot,
    )
    graph.click()

    def nodes(d: Any) -> set[str]:
        return {n.get_attribute("data-id") for n in d.find_elements(By.CSS_SELECTOR, ".react-flow__node")}

    def drawn(d: Any) -> set[tuple[str, ...]]:
        labels = [e.get_attribute("aria-label") or "" for e in d.find_elements(By.CSS_SELECTOR, ".react-flow__edge")]
        return {m.groups() for m in (re.fullmatch(r"Edge from (\S+) to (\S+)", label) for label in labels) if m}

    _until(browser, "a node for each task", lambda d: nodes(d) == HELLO_TASKS, shot)
    _until(browser, "an edge for each dependency", lambda d: drawn(d) == edges, shot)
    _screenshot(browser, shot)
    assert nodes(browser) == HELLO_TASKS
    assert drawn(browser) == edges
    node_text = {
        n.get_attribute("data-id"): n.text for n in browser.find_elements(By.CSS_SELECTOR, ".react-flow__node")
    }
    assert all(task in node_text[task] for task in HELLO_TASKS), node_text

    # The Tasks tab: a table with one row per task.
    shot = "ui-dag-tasks.png"
    browser.get(bed.deployment.url + "/dags/examples.hello/tasks")

    def rows(d: Any) -> list[str]:
        return [a.text for a in d.find_elements(By.CSS_SELECTOR, "table[data-testid='table-list'] a[href*='/tasks/']")]

    _until(browser, "a row for each task", lambda d: set(rows(d)) == HELLO_TASKS, shot)
    _until(browser, "the task count", lambda d: f"{len(HELLO_TASKS)} Tasks" in _text(d), shot)
    _screenshot(browser, shot)
    assert sorted(rows(browser)) == sorted(HELLO_TASKS)
    page = _text(browser)
    assert all(task in page for task in HELLO_TASKS)


def test_the_asset_views_show_the_pipelines_before_and_after_named_data(bed: Bed, browser: Any) -> None:
    """The example chain's data, examples.raw_orders: orders_extract's task `land` updates
    it and orders_totals runs after it. Airflow's asset list counts both, as the REST API
    holds them, and the asset's own page draws the whole chain."""
    from selenium.webdriver.common.by import By

    (asset,) = [a for a in bed.api.get("/assets", limit=1000)["assets"] if a["name"] == "examples.raw_orders"]
    assert asset["uri"] == "x-factory://examples.raw_orders"
    assert [(t["dag_id"], t["task_id"]) for t in asset["producing_tasks"]] == [("examples.orders_extract", "land")]
    assert [d["dag_id"] for d in asset["scheduled_dags"]] == ["examples.orders_totals"]
    _log_in(browser, bed)

    # The list: the data, with how many pipelines run after it and tasks update it.
    shot = "ui-assets.png"
    browser.get(bed.deployment.url + "/assets")

    def row(d: Any) -> str:
        texts = [r.text for r in d.find_elements(By.CSS_SELECTOR, "tbody tr")]
        return next((t for t in texts if t.startswith("examples.raw_orders\n")), "")

    _until(browser, "the row of examples.raw_orders, with its counts", lambda d: "1 Dag\n1 Task" in row(d), shot)
    _screenshot(browser, shot)

    shot = "ui-asset-graph.png"
    browser.get(f"{bed.deployment.url}/assets/{asset['id']}")

    def shown(d: Any) -> str:
        return " ".join(n.text for n in d.find_elements(By.CSS_SELECTOR, ".react-flow__node"))

    # Its Scheduling graph: the pipeline that updates it, and the chain that runs after it.
    chain = ("examples.orders_extract", "examples.raw_orders", "examples.orders_totals", "examples.orders_publish")
    _until(browser, "the chain in the asset's graph", lambda d: all(name in shown(d) for name in chain), shot)
    _screenshot(browser, shot)
