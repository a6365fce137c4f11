"""The HTML pages in a real browser (headless Chromium, offline, file://): charts render, no console
errors, nothing fetched, tables sort. Screenshots are left in the test's tmp_path."""

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import edited_example

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install '.[test]')")

EXAMPLE = Path(__file__).parents[2] / "traces" / "examples" / "rag-h100"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
WIDTH = 1300

pytestmark = [
    pytest.mark.integration,
    pytest.mark.browser,
    pytest.mark.skipif(
        CHROMIUM is None or not Path(CHROMEDRIVER).exists(),
        reason="needs chromium and chromedriver (Debian: apt-get install chromium chromium-driver)",
    ),
]


@pytest.fixture(scope="module")
def browser():
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars"):
        options.add_argument(argument)
    options.add_argument(f"--window-size={WIDTH},1000")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def open_page(browser, path: Path, screenshot: Path) -> None:
    """Load the page, fail on console errors or fetched resources, save a full-page screenshot."""
    browser.get_log("browser")  # drain what earlier pages logged
    browser.set_window_size(WIDTH, 1000)  # the page's height, not the last page's window, sets the screenshot's
    browser.get(path.as_uri())
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(WIDTH, height + 120)
    browser.save_screenshot(str(screenshot))
    severe = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert severe == [], severe
    fetched = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert [url for url in fetched if not url.startswith(("file:", "data:", "blob:"))] == []


def chart_sizes(browser) -> list[tuple[float, float]]:
    """Width and height of each chart's plotly SVG (first `.main-svg` per chart)."""
    return browser.execute_script(
        "return Array.from(document.querySelectorAll('.js-plotly-plot')).map(function (chart) {"
        "  var svg = chart.querySelector('.main-svg'); if (!svg) return [0, 0];"
        "  var box = svg.getBoundingClientRect(); return [box.width, box.height]; })"
    )


def test_report_page_renders_in_chromium(browser, cli, tmp_path):
    page = tmp_path / "report.html"
    assert cli("report", str(EXAMPLE), "--format", "html", "-o", str(page)).code == 0
    open_page(browser, page, tmp_path / "report.png")
    sizes = chart_sizes(browser)
    assert len(sizes) == 4 and all(w > 300 and h > 200 for w, h in sizes), sizes
    assert browser.execute_script("return document.querySelectorAll('#timeline .bars path').length") > 10
    assert browser.execute_script("return document.querySelectorAll('#stacks g.slice').length") > 10
    titles = browser.execute_script(
        "return Array.from(document.querySelectorAll('.modebar-btn')).map(b => b.getAttribute('data-title'))"
    )
    assert titles and not any("Share" in (t or "") for t in titles)  # no upload to Plotly Cloud
    tools = "document.querySelectorAll('#nodes table')[1]"
    first = f"return {tools}.tBodies[0].rows[0].cells[0].textContent"
    assert browser.execute_script(first) == "assemble_answer"  # by CPU, as the report sorts
    browser.execute_script(f"{tools}.tHead.rows[0].cells[0].click()")  # sort by name
    assert browser.execute_script(first) == "assemble_answer"
    browser.execute_script(f"{tools}.tHead.rows[0].cells[0].click()")  # again: descending
    assert browser.execute_script(first) == "search_dense"
    assert (tmp_path / "report.png").stat().st_size > 50_000


def test_comparison_and_sizing_pages_render_in_chromium(browser, cli, tmp_path):
    compare, size = tmp_path / "compare.html", tmp_path / "size.html"
    assert cli("report", str(EXAMPLE), "--compare", str(EXAMPLE), "--format", "html", "-o", str(compare)).code == 0
    assert cli("size", str(EXAMPLE), "--format", "html", "-o", str(size)).code == 0
    for page, charts in ((compare, 2), (size, 1)):
        open_page(browser, page, page.with_suffix(".png"))
        sizes = chart_sizes(browser)
        assert len(sizes) == charts and all(w > 300 and h > 200 for w, h in sizes), (page.name, sizes)


def test_new_parts_render_in_chromium(browser, cli, tmp_path):
    """Failed runs listed; size opens with its headline cards; compare bars named by preset; sub-agents banded."""
    failed: list[str] = []

    def fail_one_root(spans: list[dict]) -> list[dict]:
        for span in spans:
            if "parentSpanId" not in span and not failed:
                span["status"] = {"code": 2, "message": "KeyError: boom"}
                failed.append(span["spanId"])
        return spans

    failing = edited_example(tmp_path / "failing", fail_one_root)
    other = tmp_path / "groq"
    shutil.copytree(EXAMPLE, other)
    manifest = json.loads((other / "manifest.json").read_text())
    manifest["model"]["preset"]["name"] = "groq-llama3-8b"
    (other / "manifest.json").write_text(json.dumps(manifest))
    supervisor = cli(
        "run", "--agent", "supervisor", "--tasks", "1", "--model", "instant", "--no-sampler", "--out", str(tmp_path)
    )
    assert supervisor.code == 0, supervisor.err
    pages = {
        "report": ["report", str(failing)],
        "size": ["size", str(EXAMPLE)],
        "compare": ["report", str(EXAMPLE), "--compare", str(other)],
        "supervisor": ["report", str(tmp_path / "latest")],
    }
    for name, args in pages.items():
        assert cli(*args, "--format", "html", "-o", str(tmp_path / f"{name}.html")).code == 0, name
    text = "return Array.from(document.querySelectorAll(arguments[0])).map(e => e.textContent)"

    open_page(browser, tmp_path / "report.html", tmp_path / "report.png")
    assert browser.execute_script(text, "#headline h3") == ["Failed agent runs (1)"]
    assert "KeyError: boom" in browser.execute_script(text, "#headline table td")

    open_page(browser, tmp_path / "size.html", tmp_path / "size.png")
    sections = browser.execute_script("return Array.from(document.querySelectorAll('section')).map(s => s.id)")
    assert sections[0] == "headline" and sections.index("headline") < sections.index("demand")
    labels = browser.execute_script(text, "#headline .card .label")
    assert labels[0] == "Cores per accelerator at h100-llama3.1-8bestimate"  # with its estimate badge

    open_page(browser, tmp_path / "compare.html", tmp_path / "compare.png")
    legend = browser.execute_script(text, "#wall .legendtext") + browser.execute_script(text, "#wall .xtick text")
    assert any("B: simulated groq-llama3-8b" in entry for entry in legend), legend

    open_page(browser, tmp_path / "supervisor.html", tmp_path / "supervisor.png")
    bands = browser.execute_script(text, "#timeline .annotation-text")
    assert {f"researcher {i} of 3" for i in (1, 2, 3)} <= set(bands), bands
