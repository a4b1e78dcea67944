"""The dashboard in a real browser: Debian's Chromium driven by Playwright, against a
real ``queuectl web`` process and real runners. Each test saves a screenshot of the
page it ends on (under the test session's temporary directory, ``screenshots/``).

Playwright's own browser download is never used: the system's Chromium is. Without it
these tests skip, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from queuectl.web.chart import MINUTES, WIDTH
from tests.conftest import CLI
from tests.processes import Runners
from tests.web.server import serving

if os.environ.get("CI") != "true":  # under CI a missing Playwright fails the import
    pytest.importorskip("playwright.sync_api")
from playwright.sync_api import Browser, Dialog, Page, expect, sync_playwright

CHROMIUM = os.environ.get("QUEUECTL_TEST_CHROMIUM", "/usr/bin/chromium")
#: Live updates arrive within about a second; the margin is for a loaded CI machine.
LIVE = 5000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    yield opened
    context.close()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("screenshots")


def shoot(page: Page, screenshots: Path, name: str) -> None:
    page.screenshot(path=screenshots / f"{name}.png", full_page=True)
    docs = os.environ.get("QUEUECTL_SCREENSHOT_TO")
    if docs and name == "overview":
        shutil.copy(screenshots / f"{name}.png", docs)


def open_live(page: Page, url: str) -> None:
    """Open a page and wait until its live stream is connected."""
    page.goto(url)
    expect(page.locator("body")).to_have_attribute("data-live", "open", timeout=LIVE)


def test_the_overview_loads(cli: CLI, page: Page, screenshots: Path) -> None:
    cli("add", "--", "echo done", check=True)
    cli("add", "--retries", "0", "--", "exit 3", check=True)
    cli("worker", "start", "--burst", "--quiet", check=True)
    cli("add", "--queue", "mail", "--delay", "1h", "--", "sleep 1", check=True)
    with serving(cli) as url:
        open_live(page, url)
        expect(page.locator("h1")).to_have_text("Overview")
        expect(page.locator('[data-count="completed"]')).to_have_text("1")
        expect(page.locator('[data-count="dead"]')).to_have_text("1")
        expect(page.locator("#chart svg rect.completed")).to_have_count(1)
        shoot(page, screenshots, "overview")
        page.goto(f"{url}/jobs")
        expect(page.locator("table.jobs tbody tr")).to_have_count(3)
        shoot(page, screenshots, "jobs")
        page.goto(f"{url}/dlq")
        expect(page.locator("table.jobs tbody tr")).to_have_count(1)
        shoot(page, screenshots, "dlq")


def test_the_chart_spans_its_box_with_the_current_minute_at_the_right(
    cli: CLI, page: Page, screenshots: Path
) -> None:
    """The bars stretch over the chart's whole width: the minute just past is the last
    slot, at the box's right edge (a viewBox scaled to fit would centre them)."""
    cli("add", "--", "true", check=True)
    cli("worker", "start", "--burst", "--quiet", check=True)
    with serving(cli) as url:
        open_live(page, url)
        bar = page.locator("#chart svg rect.completed")
        expect(bar).to_have_count(1)
        svg = page.locator("#chart svg").bounding_box()
        box = bar.bounding_box()
        assert svg is not None
        assert box is not None
        slot = svg["width"] / MINUTES
        assert svg["width"] > WIDTH  # wider than the viewBox: it was stretched
        assert box["x"] + box["width"] > svg["x"] + svg["width"] - slot / 2
        assert box["x"] > svg["x"] + svg["width"] - 2 * slot
        shoot(page, screenshots, "chart")


def test_a_count_changes_live_when_a_runner_completes_a_job(
    cli: CLI, page: Page, screenshots: Path
) -> None:
    cli("add", "--", "true", check=True)
    with serving(cli) as url:
        open_live(page, url)
        completed = page.locator('[data-count="completed"]')
        expect(completed).to_have_text("0")
        cli("worker", "start", "--burst", "--quiet", check=True)
        expect(completed).to_have_text("1", timeout=LIVE)
        expect(page.locator('[data-count="pending"]')).to_have_text("0")
        shoot(page, screenshots, "overview-live")


def test_retry_a_dead_job_from_the_dlq_and_see_it_run(
    cli: CLI, runners: Runners, page: Page, screenshots: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "failed-once"
    job_id = cli(
        "add",
        "--retries",
        "0",
        "--",
        f"test -e {marker} || {{ touch {marker}; exit 1; }}",
        check=True,
    ).stdout.strip()
    cli("worker", "start", "--burst", "--quiet", check=True)
    runners.start("--quiet")
    with serving(cli) as url:
        page.goto(f"{url}/dlq")
        row = page.locator("table.jobs tbody tr", has_text=job_id)
        row.get_by_role("button", name="Retry").click()
        expect(page.locator(".notice")).to_have_text("The job is pending again.")
        page.goto(f"{url}/jobs/{job_id}")
        expect(page.locator("#job-state")).to_have_text("completed", timeout=LIVE)
        expect(page.locator("#attempts tbody tr")).to_have_count(2)
        shoot(page, screenshots, "job-retried")


def test_cancel_a_running_job_from_its_page(
    cli: CLI, runners: Runners, page: Page, screenshots: Path
) -> None:
    job_id = cli("add", "--", "sleep 60", check=True).stdout.strip()
    runners.start("--quiet")
    with serving(cli) as url:
        open_live(page, f"{url}/jobs/{job_id}")
        expect(page.locator("#job-state")).to_have_text("processing", timeout=LIVE)
        page.get_by_role("button", name="Cancel").click()
        expect(page.locator("#job-state")).to_have_text("cancelled", timeout=LIVE)
        expect(page.locator("#attempts")).to_contain_text("cancel")
        shoot(page, screenshots, "job-cancelled")


def test_follow_a_running_jobs_output_live(
    cli: CLI, runners: Runners, page: Page, screenshots: Path, tmp_path: Path
) -> None:
    go = tmp_path / "go"
    job_id = cli(
        "add",
        "--",
        f"echo first; while [ ! -e {go} ]; do sleep 0.05; done; echo second >&2",
        check=True,
    ).stdout.strip()
    runners.start("--quiet")
    with serving(cli) as url:
        open_live(page, f"{url}/jobs/{job_id}")
        expect(page.locator("#stdout")).to_have_text("first\n", timeout=LIVE)
        expect(page.locator("#stderr")).to_have_text("")
        go.touch()
        expect(page.locator("#stderr")).to_have_text("second\n", timeout=LIVE)
        expect(page.locator("#job-state")).to_have_text("completed", timeout=LIVE)
        expect(page.locator("#stdout")).to_have_text("first\n")  # nothing shown twice
        shoot(page, screenshots, "job-output")


PAYLOAD = '<script>window.__xss=1</script>"><img src=x onerror="window.__xss=2">'


def test_xss_payloads_are_shown_as_text(cli: CLI, page: Page, screenshots: Path) -> None:
    escape = "\\033[31mred\\033[0m"
    job_id = cli(
        "add",
        "--retries",
        "0",
        "--",
        f"printf '%s{escape}' '{PAYLOAD}'; printf '%s' '{PAYLOAD}' >&2; exit 1",
        check=True,
    ).stdout.strip()
    cli("worker", "start", "--burst", "--quiet", check=True)
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    with serving(cli) as url:
        bad_id = "%22%3E%3Cimg%20src=x%20onerror=%22window.__xss=3%22%3E"
        for path in [
            "/",
            "/jobs",
            "/dlq",
            f"/jobs/{job_id}",
            f"/jobs/{bad_id}",
            "/jobs?q=%3Cscript%3Ewindow.__xss%3D4%3C/script%3E",
        ]:
            page.goto(f"{url}{path}")
            page.wait_for_load_state("load")
            assert page.evaluate("window.__xss") is None, path
            assert page.locator("body img").count() == 0, path
        page.goto(f"{url}/jobs/{job_id}")
        expect(page.locator("#stdout")).to_contain_text(PAYLOAD + "\\x1b[31mred\\x1b[0m")
        expect(page.locator("#stderr")).to_contain_text(PAYLOAD)
        expect(page.locator(".fields")).to_contain_text("<script>window.__xss=1</script>")
        shoot(page, screenshots, "xss")
    assert dialogs == []


def test_pause_a_queue_and_see_a_runner_stop_taking_its_jobs(
    cli: CLI, runners: Runners, page: Page, screenshots: Path
) -> None:
    runners.start("--quiet")
    with serving(cli) as url:
        page.goto(f"{url}/queues")
        page.get_by_label("queue").fill("mail")
        page.get_by_role("button", name="Pause", exact=True).click()
        expect(page.locator(".notice")).to_contain_text("The queue is paused")
        held = cli("add", "--queue", "mail", "--", "true", check=True).stdout.strip()
        other = cli("add", "--", "true", check=True).stdout.strip()
        # The mail job came first, so only the pause keeps the runner from taking it.
        open_live(page, f"{url}/jobs/{other}")
        expect(page.locator("#job-state")).to_have_text("completed", timeout=LIVE)
        page.goto(f"{url}/jobs/{held}")
        expect(page.locator("#job-state")).to_have_text("pending")
        open_live(page, f"{url}/queues")
        row = page.locator('tr[data-queue="mail"]')
        expect(row.locator(".qstate")).to_have_text("paused")
        shoot(page, screenshots, "queues")
        row.get_by_role("button", name="Resume").click()
        expect(page.locator(".notice")).to_have_text("The queue is resumed.")
        open_live(page, f"{url}/jobs/{held}")
        expect(page.locator("#job-state")).to_have_text("completed", timeout=LIVE)
