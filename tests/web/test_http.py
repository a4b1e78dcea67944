"""Every route and action of the dashboard over HTTP (httpx's ASGI transport), on SQLite
and PostgreSQL: pages, filters and keyset paging, actions with CSRF, read-only mode, the
token, escaping of job text, security headers, and the live event streams."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
import pytest

from queuectl.api.queue import Queue
from queuectl.domain.models import JobState
from queuectl.web import create_app
from tests.web.conftest import Event, client_for, csrf_of, read_events

PAGES = ["/", "/jobs", "/dlq", "/dlq/retry-all", "/dlq/purge", "/queues"]


async def dead_job(queue: Queue, command: str = "echo boom >&2; exit 3") -> str:
    job = await queue.enqueue(command, max_retries=0)
    await queue.runner(burst=True).run()
    assert (await queue.get(job.id)).state == JobState.DEAD
    return job.id


def assert_guarded(response: httpx.Response) -> None:
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"


async def test_every_page_renders_with_security_headers(web_queue: Queue) -> None:
    job_id = await dead_job(web_queue)
    async with client_for(create_app(web_queue)) as client:
        for path in [*PAGES, f"/jobs/{job_id}", f"/jobs/{job_id}?attempt=1", "/static/style.css"]:
            response = await client.get(path)
            assert response.status_code == 200, path
            assert_guarded(response)
        assert "<script" not in (await client.get("/")).text.replace(
            '<script src="/static/live.js" defer></script>', ""
        )


async def test_the_overview_shows_counts_per_state_and_queue_and_the_chart(
    web_queue: Queue,
) -> None:
    await web_queue.enqueue("true", queue="mail", delay=3600)
    await dead_job(web_queue)
    async with client_for(create_app(web_queue)) as client:
        html = (await client.get("/")).text
    assert re.search(r'data-count="pending">1<', html)
    assert re.search(r'data-count="dead">1<', html)
    assert ">mail</a>" in html
    assert '<rect class="dead"' in html  # the chart's bar for the minute it died
    assert "No runner is live" in html


async def test_the_chart_shows_what_a_runner_completed_failed_and_killed_per_minute(
    web_queue: Queue, tmp_path: Path
) -> None:
    marker = tmp_path / "tried"
    await web_queue.enqueue("true")
    # Fails its first attempt, and completes when retried.
    await web_queue.enqueue(f"test -e {marker} || {{ touch {marker}; exit 1; }}", max_retries=1)
    await web_queue.enqueue("exit 3", max_retries=0)
    await web_queue.runner(burst=True).run()
    async with client_for(create_app(web_queue)) as client:
        html = (await client.get("/")).text
    per_series: dict[str, int] = {}
    minutes_seen = set()
    for series, minute, n in re.findall(
        r'<rect class="(\w+)"[^>]*><title>(\d\d:\d\d) UTC: (\d+) \1</title>', html
    ):
        per_series[series] = per_series.get(series, 0) + int(n)
        minutes_seen.add(minute)
    assert per_series == {"completed": 2, "failed": 1, "dead": 1}
    assert 1 <= len(minutes_seen) <= 2  # a run may straddle a minute's end
    for series, total in [("completed", 2), ("failed", 1), ("dead", 1), ("cancelled", 0)]:
        assert f'<span class="key {series}">■</span> {series} {total}' in html


async def test_the_jobs_page_filters_and_pages_by_keyset(web_queue: Queue) -> None:
    ids = [(await web_queue.enqueue(f"echo job{n}", id=f"job-{n}")).id for n in range(7)]
    await web_queue.enqueue("echo mailer", id="mailer", queue="mail")
    await web_queue.cancel(["job-2"])
    async with client_for(create_app(web_queue)) as client:
        first = (await client.get("/jobs?limit=3&queue=default")).text
        assert _row_ids(first) == ["job-6", "job-5", "job-4"]
        following = re.search(r'rel="next" href="([^"]+)"', first)
        assert following is not None
        second = (await client.get(following.group(1).replace("&amp;", "&"))).text
        assert _row_ids(second) == ["job-3", "job-2", "job-1"]
        oldest = (await client.get("/jobs?order=oldest&limit=2")).text
        assert _row_ids(oldest) == ids[:2]
        assert _row_ids((await client.get("/jobs?state=cancelled")).text) == ["job-2"]
        assert _row_ids((await client.get("/jobs?q=mailer")).text) == ["mailer"]
        assert (await client.get("/jobs?state=bogus")).status_code == 400
        assert (await client.get("/jobs?limit=0")).status_code == 400


def _row_ids(html: str) -> list[str]:
    return re.findall(r'<td class="id mono"><a href="/jobs/[^"]+">([^<]+)</a>', html)


async def test_the_job_page_shows_fields_attempts_and_output(web_queue: Queue) -> None:
    job_id = await dead_job(web_queue, "echo out-text; echo err-text >&2; exit 3")
    async with client_for(create_app(web_queue)) as client:
        html = (await client.get(f"/jobs/{job_id}")).text
        assert "out-text" in html
        assert "err-text" in html
        assert "<th>exit_code</th>" in html
        assert ">3<" in html
        assert "Output of attempt 1" in html
        assert (await client.get("/jobs/no-such-job")).status_code == 404
        assert (await client.get(f"/jobs/{job_id}?attempt=x")).status_code == 400


async def test_retry_cancel_and_delete_from_the_job_page(web_queue: Queue) -> None:
    dead = await dead_job(web_queue)
    waiting = (await web_queue.enqueue("true", delay=3600)).id
    async with client_for(create_app(web_queue)) as client:
        token = await csrf_of(client)
        r = await client.post("/actions/retry", data={"csrf": token, "id": dead})
        assert r.status_code == 303
        assert r.headers["location"] == f"/jobs/{dead}?done=requeued"
        assert (await web_queue.get(dead)).state == JobState.PENDING
        r = await client.post("/actions/cancel", data={"csrf": token, "id": waiting})
        assert r.headers["location"] == f"/jobs/{waiting}?done=cancelled"
        assert (await web_queue.get(waiting)).state == JobState.CANCELLED
        assert "The job is cancelled." in (await client.get(r.headers["location"])).text
        r = await client.post("/actions/delete", data={"csrf": token, "id": waiting})
        assert r.headers["location"] == "/jobs?done=removed"
        assert (await client.get(f"/jobs/{waiting}")).status_code == 404
        r = await client.post("/actions/delete", data={"csrf": token, "id": dead})
        assert r.headers["location"] == f"/jobs/{dead}?done=unfinished"
        assert (await client.post("/actions/explode", data={"csrf": token})).status_code == 404


async def test_cancel_of_a_running_job_asks_its_runner(web_queue: Queue) -> None:
    job = await web_queue.enqueue("sleep 30")
    assert [j.id for j in await web_queue.store.claim("runner-1", 1, 30.0)] == [job.id]
    async with client_for(create_app(web_queue)) as client:
        token = await csrf_of(client)
        r = await client.post("/actions/cancel", data={"csrf": token, "id": job.id})
        assert r.headers["location"] == f"/jobs/{job.id}?done=requested"
    assert (await web_queue.get(job.id)).cancel_requested


async def test_the_dlq_retries_one_retries_all_and_purges(web_queue: Queue) -> None:
    ids = [await dead_job(web_queue) for _ in range(3)]
    async with client_for(create_app(web_queue)) as client:
        token = await csrf_of(client)
        html = (await client.get("/dlq")).text
        assert "boom" in html  # the last error
        assert set(_row_ids(html)) == set(ids)
        r = await client.post("/actions/retry", data={"csrf": token, "id": ids[0], "back": "dlq"})
        assert r.headers["location"] == "/dlq?done=requeued"
        assert "3 dead jobs" not in (await client.get("/dlq/retry-all")).text
        assert "2 dead jobs" in (await client.get("/dlq/retry-all")).text
        r = await client.post("/dlq/retry-all", data={"csrf": token})
        assert r.headers["location"] == "/dlq?done=retried-all"
        assert (await web_queue.counts())[JobState.DEAD] == 0
        await web_queue.runner(burst=True).run()
        assert (await web_queue.counts())[JobState.DEAD] == 3
        r = await client.post("/dlq/purge", data={"csrf": token})
        assert r.headers["location"] == "/dlq?done=purged"
        assert (await web_queue.counts())[JobState.DEAD] == 0


@pytest.mark.parametrize(
    ("form", "headers"),
    [
        ({}, {}),
        ({"csrf": "forged"}, {}),
        ({"csrf": None}, {"origin": "http://evil.example"}),
    ],
    ids=["missing", "wrong", "cross-origin"],
)
async def test_actions_without_the_csrf_token_are_refused(
    web_queue: Queue, form: dict[str, str | None], headers: dict[str, str]
) -> None:
    dead = await dead_job(web_queue)
    async with client_for(create_app(web_queue)) as client:
        token = await csrf_of(client)
        data = {k: token if v is None else v for k, v in form.items()}
        for path in [
            "/actions/retry",
            "/actions/delete",
            "/dlq/retry-all",
            "/dlq/purge",
            "/actions/queue/pause",
        ]:
            r = await client.post(
                path, data={**data, "id": dead, "name": "default"}, headers=headers
            )
            assert r.status_code == 403, path
            assert "CSRF" in r.text
    assert (await web_queue.get(dead)).state == JobState.DEAD
    assert await web_queue.paused_queues() == []


async def test_read_only_offers_and_accepts_no_action(web_queue: Queue) -> None:
    dead = await dead_job(web_queue)
    async with client_for(create_app(web_queue, read_only=True)) as client:
        for path in ["/", "/jobs", "/dlq", f"/jobs/{dead}", "/queues"]:
            html = (await client.get(path)).text
            assert 'method="post"' not in html, path
            assert "Retry all" not in html, path
        token = await csrf_of(client)
        for path in [
            "/actions/retry",
            "/actions/cancel",
            "/actions/delete",
            "/actions/queue/pause",
        ]:
            r = await client.post(path, data={"csrf": token, "id": dead, "name": "default"})
            assert r.status_code in (404, 405), path
        for path in ["/dlq/retry-all", "/dlq/purge"]:
            assert (await client.post(path, data={"csrf": token})).status_code == 405
    assert (await web_queue.get(dead)).state == JobState.DEAD
    assert await web_queue.paused_queues() == []


async def test_queues_are_paused_resumed_and_capped(web_queue: Queue) -> None:
    await web_queue.enqueue("true", queue="mail", delay=3600)
    async with client_for(create_app(web_queue)) as client:
        token = await csrf_of(client)
        assert 'data-queue="mail"' in (await client.get("/queues")).text
        r = await client.post("/actions/queue/pause", data={"csrf": token, "name": "mail"})
        assert r.headers["location"] == "/queues?done=paused"
        assert await web_queue.paused_queues() == ["mail"]
        assert '<span class="badge">paused</span>' in (await client.get("/")).text
        assert ">Resume<" in (await client.get("/queues")).text
        r = await client.post("/actions/queue/resume", data={"csrf": token, "name": "mail"})
        assert r.headers["location"] == "/queues?done=resumed"
        assert await web_queue.paused_queues() == []
        r = await client.post(
            "/actions/queue/cap", data={"csrf": token, "name": "mail", "cap": "3"}
        )
        assert r.headers["location"] == "/queues?done=capped"
        assert [i.cap for i in await web_queue.queue_overview() if i.name == "mail"] == [3]
        r = await client.post("/actions/queue/cap", data={"csrf": token, "name": "mail", "cap": ""})
        assert r.headers["location"] == "/queues?done=uncapped"
        assert [i.cap for i in await web_queue.queue_overview() if i.name == "mail"] == [None]
        for bad in ({"name": "mail", "cap": "-1"}, {"name": "mail", "cap": "0"}, {"name": "a b"}):
            r = await client.post("/actions/queue/cap", data={"csrf": token, **bad})
            assert r.status_code == 400, bad
        r = await client.post("/actions/queue/pause", data={"csrf": token, "name": "<b>"})
        assert r.status_code == 400
        assert "<b>" not in r.text or r.headers["content-type"].startswith("text/plain")
    assert [i.cap for i in await web_queue.queue_overview() if i.name == "mail"] == [None]


async def test_with_a_token_every_request_must_carry_it(web_queue: Queue) -> None:
    secret = "s3cret-token-0123456789"
    app = create_app(web_queue, token=secret)
    async with client_for(app) as client:
        for path in ["/", "/jobs", "/static/live.js", "/live/overview"]:
            refused = await client.get(path)
            assert refused.status_code == 401, path
            assert_guarded(refused)
        assert (await client.get("/?token=wrong")).status_code == 401
        assert (await client.get("/", headers={"authorization": f"Bearer {secret}"})).is_success
        login = await client.get(f"/jobs?state=dead&token={secret}")
        assert login.status_code == 303
        assert login.headers["location"] == "/jobs?state=dead"  # the token leaves the address
        assert "HttpOnly" in login.headers["set-cookie"]
        assert (await client.get("/jobs")).is_success  # the cookie now carries it


XSS = '<script>alert(1)</script>"><img src=x onerror=alert(2)>\x1b[2J\x1b]0;owned\x07'


async def test_job_text_is_shown_inert(web_queue: Queue) -> None:
    command = "printf '%s' \"$PAYLOAD\" >&2; echo '<script>alert(3)</script>'; exit 1"
    job = await web_queue.enqueue(f"PAYLOAD='{XSS.replace(chr(39), '')}'; {command}", max_retries=0)
    await web_queue.runner(burst=True).run()
    async with client_for(create_app(web_queue)) as client:
        pages = [
            (await client.get(path)).text
            for path in [
                "/",
                "/jobs",
                "/dlq",
                f"/jobs/{job.id}",
                "/jobs?q=%3Cscript%3E&queue=%3Cb%3E",
            ]
        ]
        pages.append((await client.get("/jobs/%22%3E%3Cimg%20src=x%20onerror=alert(4)%3E")).text)
    for html in pages:
        assert "<script>" not in html
        assert "<img" not in html
        assert "<b>" not in html
        assert "\x1b" not in html
        assert "\x07" not in html
    assert "&lt;script&gt;alert(3)&lt;/script&gt;" in pages[3]  # stdout
    assert "\\x1b[2J" in pages[3]  # stderr, the escape shown as text
    assert "&lt;img src=x onerror=alert(4)&gt;" in pages[5]


async def test_the_overview_stream_sends_a_count_change(web_queue: Queue) -> None:
    app = create_app(web_queue, poll=0.05)
    added: list[asyncio.Task[object]] = []

    def until(events: list[Event]) -> bool:
        counts = [d["html"] for name, d in events if name == "swap" and d["id"] == "counts"]
        if counts and not added:  # the page is open: a job arrives
            added.append(asyncio.get_running_loop().create_task(web_queue.enqueue("true")))
        return any('data-count="pending">1<' in html for html in counts)

    events = await read_events(app, "/live/overview", until)
    assert {d["id"] for name, d in events if name == "swap"} >= {"counts", "chart", "runners"}
    assert app.state.wakes.watching == 0  # the page went away: nothing reads any more


async def test_the_job_stream_sends_state_and_output(web_queue: Queue) -> None:
    job = await web_queue.enqueue("echo first; echo second", id="streamed")
    app = create_app(web_queue, poll=0.05)
    runner = web_queue.runner(burst=True)
    started: list[asyncio.Task[object]] = []

    def until(events: list[Event]) -> bool:
        if not started:  # the page is open: the job runs
            started.append(asyncio.get_running_loop().create_task(runner.run()))
        text = "".join(d["text"] for name, d in events if name == "append")
        swaps = [d["html"] for name, d in events if name == "swap" and d["id"] == "summary"]
        return "second" in text and any(">completed<" in html for html in swaps)

    events = await read_events(app, f"/live/jobs/{job.id}", until)
    await started[0]
    text = "".join(d["text"] for name, d in events if name == "append" and d["id"] == "stdout")
    assert text == "first\nsecond\n"


async def test_a_list_stream_sends_its_rows_again_when_a_job_arrives(web_queue: Queue) -> None:
    app = create_app(web_queue, poll=0.05)
    added: list[asyncio.Task[object]] = []

    def until(events: list[Event]) -> bool:
        rows = [d["html"] for name, d in events if name == "swap" and d["id"] == "rows"]
        if rows and not added:  # the list is open: a job arrives
            added.append(
                asyncio.get_running_loop().create_task(web_queue.enqueue("true", id="new"))
            )
        return any(">new</a>" in html for html in rows)

    events = await read_events(app, "/live/jobs", until)
    assert len([e for e in events if e[0] == "swap"]) == 2  # the first rows, then the new


async def test_streams_of_lists_and_of_a_missing_job(web_queue: Queue) -> None:
    await dead_job(web_queue)
    app = create_app(web_queue, poll=0.05)
    events = await read_events(app, "/live/queues", bool)
    assert events[0][0] == "swap"
    assert events[0][1]["id"] == "queues"
    for path in ["/live/jobs?state=dead", "/live/dlq"]:
        events = await read_events(app, path, bool)
        assert events[0][0] == "swap"
        assert events[0][1]["id"] == "rows"
        assert "boom" in events[0][1]["html"]
    async with client_for(app) as client:
        assert (await client.get("/live/jobs/nope")).status_code == 404
        assert (await client.get("/live/jobs?state=bogus")).status_code == 400


async def test_mounted_under_a_prefix_every_link_and_redirect_keeps_it(web_queue: Queue) -> None:
    from starlette.applications import Starlette
    from starlette.routing import Mount

    dead = await dead_job(web_queue)
    outer = Starlette(routes=[Mount("/queue", app=create_app(web_queue))])
    async with client_for(outer) as client:
        html = (await client.get("/queue/")).text
        links = re.findall(r'(?:href|src|action|data-stream)="([^"]+)"', html)
        assert links
        assert all(link.startswith("/queue/") for link in links), links
        html = (await client.get(f"/queue/jobs/{dead}")).text
        assert f'data-stream="/queue/live/jobs/{dead}?' in html
        token = str(client.cookies["queuectl_csrf"])
        r = await client.post("/queue/actions/retry", data={"csrf": token, "id": dead})
        assert r.headers["location"] == f"/queue/jobs/{dead}?done=requeued"
        assert (await client.get("/queue/static/live.js")).status_code == 200
