"""reports/index.html in a real headless browser: it opens from disk, every image loads, no
console errors, every paper has a section with figures and claims, and a provenance line.

Uses Debian's chromium and chromium-driver (`make system-deps`; installed here when missing and
possible) through Selenium. The page is the one the workflow tests' micro run writes.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from wfutil import MICRO, make_copy, snakemake

pytestmark = [pytest.mark.workflow, pytest.mark.xdist_group("browser")]

CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
SYSTEM_DEPS = Path(__file__).resolve().parent / "system-deps.sh"


def _browser_available() -> str | None:
    """Why the browser cannot run here, or None.

    `make system-deps` installs chromium before pytest starts; run on its own, the test asks the
    same installer (tests/system-deps.sh), which serializes every apt-get of the tests, so that
    this install cannot collide with the Slurm test's in the other xdist group.
    """
    if Path(CHROMIUM).exists() and Path(DRIVER).exists():
        return None
    deps = subprocess.run([SYSTEM_DEPS, "browser"], capture_output=True, text=True, timeout=1800)
    if Path(CHROMIUM).exists() and Path(DRIVER).exists():
        return None
    said = [line for line in (deps.stdout + deps.stderr).splitlines() if "system-deps:" in line]
    return "chromium is not installed: " + " / ".join(said or [f"exit status {deps.returncode}"])


@pytest.fixture(scope="module")
def browser():
    reason = _browser_available()
    if reason:
        pytest.skip(reason)
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    # Flags that keep Chromium quiet on a machine without network access or a display.
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--allow-file-access-from-files",
        "--window-size=1400,1000",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def test_index_html_renders_every_figure_without_errors(browser, tmp_path):
    workdir = make_copy(tmp_path / "wf", MICRO)
    snakemake(workdir, "--cores", "2", "reports/all")
    page = workdir / "reports" / "index.html"
    assert "NOT RUN" in page.read_text()
    browser.get(page.as_uri())
    images = browser.execute_script(
        "return Array.from(document.images).map(i => [i.getAttribute('src'), i.complete,"
        " i.naturalWidth]);"
    )
    assert images, "the report shows no figures"
    broken = [src for src, complete, width in images if not (complete and width > 0)]
    assert not broken, f"images that did not load: {broken}"
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors
    sections = browser.execute_script(
        "return Array.from(document.querySelectorAll('section')).map(s => s.id);"
    )
    assert {"du2018", "huh2020", "runtime"} <= set(sections)
    for paper in ("du2018", "huh2020"):
        figures = browser.execute_script(
            f"return document.querySelectorAll('#{paper} figure img').length;"
        )
        claims = browser.execute_script(f"return document.querySelectorAll('#{paper} tr').length;")
        assert figures >= 4 and claims >= 5, (paper, figures, claims)
    counts = browser.execute_script(
        "return document.querySelectorAll('table.verdicts tbody tr').length;"
    )
    assert counts == 2  # one row per paper in the verdict summary
    # A claim's link opens its entry in the rendered documentation page, from disk.
    link = browser.find_element("css selector", "#du2018 td a[href*='docs/du2018.html#']")
    anchor = link.get_attribute("href").rsplit("#", 1)[1]
    link.click()
    assert browser.current_url.endswith(f"docs/du2018.html#{anchor}")
    assert browser.execute_script(f"return document.getElementById('{anchor}') !== null;")
    browser.back()
    _navigation_anchors_filter_and_sort(browser)
    provenance = browser.find_element("css selector", ".provenance").text
    for field in ("curvlab", "commit", "config", "torch", "device", "UTC"):
        assert field in provenance, provenance
    shot = tmp_path / "screenshot.png"
    browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000


def _navigation_anchors_filter_and_sort(browser):
    """Paper titles in the navigation; an anchor on every figure and claim row; the claims
    table filters by words typed and sorts by the heading clicked (numbers as numbers)."""
    nav = browser.execute_script(
        "return Array.from(document.querySelectorAll('nav a')).map(a => a.textContent);"
    )
    assert "Du, Hu & Lee (NeurIPS 2018)" in nav and "du2018" not in nav, nav
    figures = browser.execute_script(
        "return Array.from(document.querySelectorAll('#du2018 figure')).map(f => f.id);"
    )
    assert figures and all(f.startswith("fig-du2018-") for f in figures), figures
    rows = browser.execute_script(
        "return Array.from(document.querySelectorAll('#du2018 table.claims tbody tr'))"
        ".map(r => r.id);"
    )
    assert len(rows) == len(set(rows)) and all(r.startswith("claim-du2018-") for r in rows)
    browser.get(browser.current_url.split("#")[0] + f"#{rows[-1]}")
    assert browser.execute_script(f"return document.getElementById('{rows[-1]}') !== null;")
    data = browser.execute_script(
        "return Array.from(document.querySelectorAll('#du2018 p.data a')).map(a => a.href);"
    )
    assert any(h.endswith("results/du2018/network.parquet") for h in data), data
    assert any(h.endswith("config.json") for h in data), data

    box = browser.find_element("css selector", "#du2018 input.claims-filter")
    claim = rows[0].removeprefix("claim-du2018-")
    box.send_keys(f"  {claim.upper()} ")  # case and extra spaces do not matter
    visible = browser.execute_script(
        "return Array.from(document.querySelectorAll('#du2018 table.claims tbody tr'))"
        ".filter(r => !r.hidden).map(r => r.textContent.toLowerCase());"
    )
    assert 0 < len(visible) < len(rows), (len(visible), len(rows))
    assert all(claim in text for text in visible)
    box.clear()
    box.send_keys(" ")  # an empty filter shows every row again
    shown = browser.execute_script(
        "return document.querySelectorAll('#du2018 table.claims tbody tr:not([hidden])').length;"
    )
    assert shown == len(rows)

    heading = browser.find_element(
        "xpath", "//section[@id='du2018']//table[@class='claims']//th[text()='measured']"
    )
    heading.click()
    values = browser.execute_script(
        "return Array.from(document.querySelectorAll('#du2018 table.claims tbody tr'))"
        ".map(r => parseFloat(r.cells[2].getAttribute('data-sort')))"
        ".filter(x => !isNaN(x));"
    )
    assert len(values) > 3 and values == sorted(values), values
    assert heading.get_attribute("aria-sort") == "ascending"
