"""Every dashboard page at a phone's width (390 px) and at 1440 px, in Playwright on
Debian's Chromium: the page never scrolls sideways (wide tables scroll inside their own
card), "Log out" stays reachable, and at 1440 px nothing inside a card is cut off.

The pages are the app's own GET routes, so a page added later is measured too; a page
whose path needs a parameter gets one from the seeded data. Each page is saved full-page
as ``<page>-<width>.png`` (in the test's tmp dir; also in ``$BINGO_SCREENSHOTS/widths``
when set, which is how ``docs/screenshots/widths/`` is refreshed); the widths measured
are written to ``widths.json`` in the tmp dir.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from starlette.routing import Route

from bingo_core.app import App
from bingo_core.records.base import STATES
from bingo_core.testing import drain

from .conftest import ADMIN_KEY
from .helpers import publish_entries, run_async, seed, seed_workflows, steady_box
from .test_browser import page, server

pytestmark = [pytest.mark.slow, pytest.mark.parallel_safe]
__all__ = ["page", "server"]  # the fixtures this module borrows

WIDTHS = (390, 1440)
PREFIX = "/queue"
#: Routes that show another route's page under a second path.
ALIASES = {"overview_slash"}
#: The queue every task state is seeded in: a long name with a slash, as real ones have.
QUEUE = "eu/invoices-nightly-reconciliation-west-1"
#: The queue of the workflows seeded (running, failed, completed, cancelled).
FLOWS = "eu/ledger-close-workflows-nightly-west-1"
WORKER = "pretend-worker.eu-west-1.compute.internal:31337:w"
LONG_ERROR = (
    "ConnectionError: upstream https://billing.internal.example.com/api/v2/invoices/"
    "reconcile?batch=2026-12-07T00:00:00Z answered 503 Service Unavailable after 30.0 s; "
    "payload was {'invoice_id': 'INV-2026-000123456789', 'customer': 'ACME-EU-WEST-0042'} "
    + "Traceback (most recent call last): File worker.py line 412 in run; "
    * 4
)


def task_id(kind: str, i: int) -> str:
    return f"{kind}-2026-12-07-customer-000123456789-reconcile-invoice-batch-{i:04d}"


def payload(i: int) -> dict[str, Any]:
    return {"name": f"customer ACME-EU-WEST-{i:04d} " + "with a very long invoice note " * 12}


def seed_tasks(app: App) -> dict[str, list[str]]:
    """Tasks of QUEUE in every state, with long ids, payloads, errors and results."""
    client = app.client
    ids: dict[str, list[str]] = {s: [] for s in STATES}

    def add(kind: str, i: int, **options: Any) -> str:
        return client.enqueue(
            "demo:greet", payload(i), queue=QUEUE, task_id=task_id(kind, i), **options
        ).id

    held = [add("active", i) for i in range(3)] + [add("failing", i) for i in range(6)]

    async def run() -> None:
        broker = app.async_broker()
        try:
            fetched = await broker.fetch(QUEUE, len(held), time.time() + 600, WORKER)
            leased = [t.id for t in fetched.leased]
            assert leased == held, leased
            now = time.time()
            for tid in held[3:5]:
                await broker.retry(QUEUE, tid, WORKER, now + 900, LONG_ERROR)
            for tid in held[5:7]:
                await broker.archive(QUEUE, tid, WORKER, LONG_ERROR, 10_000, 86_400)
            result = json.dumps({"reconciled": 1234, "note": "a long result " * 20})
            await broker.ack(QUEUE, [(tid, 3600.0, "", result) for tid in held[7:9]], WORKER)
        finally:
            await broker.close()
            app._async_broker = None

    run_async(run)
    ids["active"] = held[:3]
    ids["retry"] = held[3:5]
    ids["archived"] = held[5:7]
    ids["completed"] = held[7:9]
    ids["pending"] = [add("pending", i) for i in range(4)]
    ids["pending"].append(client.enqueue("demo:greet", payload(9), queue=QUEUE).id)  # 32 hex
    ids["scheduled"] = [add("scheduled", i, process_in=3600) for i in range(3)]
    return ids


def heartbeat_record(server_id: str, name: str, **extra: Any) -> str:
    host, pid = server_id.split(":")[:2]
    return json.dumps(
        {
            "id": server_id,
            "name": name,
            "host": host,
            "pid": int(pid),
            "queues": {QUEUE: 6, "default": 3, "critical": 1, "exports-low-priority-batch": 1},
            "strict": False,
            "concurrency": 16,
            "started_at": time.time() - 86_000,
            "processed": 123_456,
            "failed": 789,
            "at": time.time(),
            **extra,
        }
    )


def seed_servers(app: App, active: list[str]) -> None:
    """Two live workers, a dashboard-only process, a stopped and a dead worker."""
    from bingo_core.dashboard.sampler import Sampler

    held = [{"id": tid, "queue": QUEUE, "type": "demo:greet"} for tid in active]
    live = "worker-eu-west-1a.prod.example.internal:4242:7f3c9a2b1d4e"
    other = "worker-eu-west-1b.prod.example.internal:977:0a1b2c3d4e5f"
    stopped = "worker-eu-west-1c.prod.example.internal:5151:99aa88bb77cc"
    dead = "worker-eu-west-1d.prod.example.internal:6262:deadbeef0001"

    async def run() -> None:
        broker = app.async_broker()
        try:
            beat = heartbeat_record(live, "billing-daemon-eu-west", active=held, active_count=3)
            await broker.heartbeat(live, beat, 60)
            beat = heartbeat_record(other, "reports", queues=["default"], active=[])
            await broker.heartbeat(other, beat, 60)
            beat = heartbeat_record(stopped, "billing-old", active=held[:2], active_count=2)
            await broker.heartbeat(stopped, beat, 60)
            beat = heartbeat_record(dead, "billing-crashed", active=held[2:], active_count=1)
            await broker.heartbeat(dead, beat, 0.3)
            await Sampler(broker, roles=["dashboard"], name="ops-dashboard").sample_once()
            await broker.remove_server(stopped)  # said goodbye: kept as stopped
        finally:
            await broker.close()
            app._async_broker = None

    run_async(run)
    time.sleep(0.4)  # the dead one's heartbeat runs out


ENTRY_INFO = {
    "source": "plugin:demo",
    "timezone": "Europe/Berlin",
    "type": "demo:greet",
    "queue": QUEUE,
    "misfire_grace": 60.0,
}


def seed_schedules(app: App, web: Any, ids: dict[str, list[str]]) -> str:
    """Published entries (one with history and missed ticks) and sys_crontab rows; the
    key of the entry with history."""
    entries = [
        {
            "key": f"plugin:demo|{name}",
            "info": {**ENTRY_INFO, "name": name, "spec": spec},
        }
        for name, spec in [
            ("every five", "*/5 * * * *"),
            ("nightly reconciliation of every open invoice in eu-west", "30 2 * * *"),
            ("quarter-hourly exports", "0,15,30,45 8-18 * * 1-5"),
            ("first of the month", "0 6 1 * *"),
        ]
    ]
    now = time.time()
    item = {
        "tick": now - 120,
        "task_id": ids["completed"][0],
        "enqueued_at": now - 119.9,
        "lateness": 0.1,
    }
    publish_entries(app, entries, {entries[1]["key"]: item})
    store = web.state.dash.store()
    store.add("nightly", "demo:greet", "0 2 * * *", '{"name": "n"}', 1)
    store.add(
        "reconcile every open invoice of every customer in eu-west before the day starts",
        "demo:greet",
        "15 3 * * 1-5",
        json.dumps(payload(1)),
        1,
    )
    store.add("broken", "demo:greet", "61 * * * *", '{"count": 1}', 0)
    return str(entries[1]["key"])


def page_routes(web: Any) -> list[Route]:
    """The dashboard's GET routes that render a page."""
    out = []
    for route in web.routes:
        if not isinstance(route, Route) or "GET" not in (route.methods or ()):
            continue
        if not route.path.startswith(PREFIX) or route.path.startswith(PREFIX + "/api/"):
            continue
        if route.name in ALIASES or route.path.endswith((".svg", ".json")):
            continue
        out.append(route)
    return out


def variants(route: Route, values: dict[str, list[tuple[str, str]]]) -> list[tuple[str, str]]:
    """(screenshot name, URL) of each way ``route`` is measured: one per value of each
    path parameter (the URL built by the route itself), and one per state on a queue's
    task list."""
    base = route.name.replace("_", "-")
    made: list[tuple[str, dict[str, str]]] = [(base, {})]
    for param in route.param_convertors:
        if param not in values:
            pytest.fail(f"{route.path}: no seeded value for {{{param}}}: add one to `values`")
        one = len(values[param]) == 1
        made = [
            (name if one else f"{name}-{label}", {**params, param: value})
            for name, params in made
            for label, value in values[param]
        ]
    urls = [(name, route.url_path_for(route.name, **params)) for name, params in made]
    if route.name == "tasks":
        urls = [(f"{name}-{s}", f"{path}?state={s}") for name, path in urls for s in STATES]
    if route.name == "entry":
        urls = [(name, f"{path}?key={quote(values['key'][0][1], safe='')}") for name, path in urls]
    return urls


FAST_REFRESH = """
new MutationObserver((_, seen) => {
  const main = document.querySelector("main[data-api]");
  if (main) { main.dataset.every = "1000"; seen.disconnect(); }
}).observe(document, {childList: true, subtree: true});
"""

#: The page's width, what is cut off (a box scrolling sideways, a wide table in its card;
#: a button not wholly in the window) and the navigation links not wholly in the window.
MEASURE = """() => {
  const cut = [];
  const name = (el) => (el.tagName + "." + el.className).slice(0, 40);
  for (const el of document.querySelectorAll("main *")) {
    const sideways = ["auto", "scroll"].includes(getComputedStyle(el).overflowX);
    if (sideways && !el.matches("input, textarea, select") && el.scrollWidth > el.clientWidth + 1) {
      cut.push(name(el) + " scrolls " + el.scrollWidth + " > " + el.clientWidth);
    }
  }
  for (const el of document.querySelectorAll("main button, main .button")) {
    const box = el.getBoundingClientRect();
    if (box.width && (box.left < 0 || box.right > window.innerWidth)) {
      cut.push("button " + el.textContent.trim() + " at " + Math.round(box.left) + "-"
               + Math.round(box.right));
    }
  }
  const away = [...document.querySelectorAll("header nav a")].filter((a) => {
    const box = a.getBoundingClientRect();
    return !box.width || box.left < 0 || box.right > window.innerWidth;
  }).map((a) => a.textContent);
  return {scroll: document.documentElement.scrollWidth, inner: window.innerWidth,
          height: document.documentElement.scrollHeight, cut: cut, nav_away: away};
}"""


@pytest.fixture
def shots(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "widths"
    folder.mkdir()
    yield folder
    target = os.environ.get("BINGO_SCREENSHOTS")
    if target:
        dest = Path(target) / "widths"
        dest.mkdir(parents=True, exist_ok=True)
        for f in folder.glob("*.png"):
            shutil.copy(f, dest / f.name)


def wait_for_refresh(page: Any) -> None:
    """Until a page with live refresh has rebuilt its rows from the JSON API once."""
    page.wait_for_function(
        "() => !document.querySelector('main[data-api]')"
        " || (document.querySelector('#live').textContent || '').startsWith('live ')",
        timeout=8000,
    )


def measure(page: Any, name: str, shots: Path, found: dict[str, Any], logged_in: bool) -> None:
    """Both widths of the page open in ``page``: widths, cut-off elements, Log out."""
    for width in sorted(WIDTHS, reverse=True):
        page.set_viewport_size({"width": width, "height": 900})
        page.evaluate("() => new Promise(r => requestAnimationFrame(() => r(null)))")
        m = page.evaluate(MEASURE)
        m["logout"] = None
        if logged_in:
            button = page.locator("header form[action$='/logout'] button")
            box = button.bounding_box() if button.is_visible() else None
            m["logout"] = bool(box and box["x"] >= 0 and box["x"] + box["width"] <= width)
            if m["logout"]:
                button.click(trial=True)  # visible, enabled, not covered
        page.screenshot(path=str(shots / f"{name}-{width}.png"), full_page=True)
        found[f"{name}@{width}"] = m


def check_servers(page: Any, active: list[str], shots: Path) -> None:
    """One compact row per server with its name; the tasks it holds fold away, each id on
    a line of its own; a stopped server holds none."""
    page.set_viewport_size({"width": 1440, "height": 900})
    rows = page.locator("tbody[data-rows=servers] > tr")
    # the five seeded, and the real worker that ran today's tasks, stopped since
    assert rows.count() == 6
    for i in range(rows.count()):
        assert steady_box(rows.nth(i))["height"] < 80, rows.nth(i).inner_text()
    text = page.locator("table.servers").inner_text()
    assert "billing-daemon-eu-west" in text and "ops-dashboard" in text
    assert f"{QUEUE} \u00d76, default \u00d73" in text and '{"' not in text
    stopped = page.locator("tbody[data-rows=servers] > tr", has=page.locator(".badge.stopped"))
    held = [t.strip() for t in stopped.locator("td.held").all_inner_texts()]
    assert held == ["none", "none"]  # the seeded one and the real worker
    live = page.locator("tbody[data-rows=servers] > tr", has_text="billing-daemon-eu-west")
    live.locator("summary").click()
    links = live.locator("ul.ids a")
    assert links.all_inner_texts() == active
    wait_for_refresh(page)  # the list is rebuilt by the next refresh: it stays open
    page.wait_for_timeout(1200)
    assert live.locator("ul.ids a").first.is_visible()
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        for box in (steady_box(links.nth(i)) for i in range(links.count())):
            assert box and box["width"] > 150, (width, box)  # never a few characters a line
        page.screenshot(path=str(shots / f"servers-open-{width}.png"), full_page=True)


def check_schedules(page: Any) -> None:
    """An entry is one line high: its next fire, the next five folded under it."""
    page.set_viewport_size({"width": 1440, "height": 900})
    rows = page.locator("tbody[data-rows=entries] > tr")
    assert rows.count() == 4
    for i in range(rows.count()):
        assert steady_box(rows.nth(i))["height"] < 70, rows.nth(i).inner_text()


def test_every_page_fits_at_390_and_1440(
    page: Any, app: App, web: Any, shots: Path, server: str
) -> None:
    for i in range(5):  # today's figures per task type, from a real worker
        app.client.enqueue("demo:greet", {"name": f"w{i}"}, retention=3600)
    run_async(lambda: drain(app=app))
    seed(app)
    ids = seed_tasks(app)
    seed_servers(app, ids["active"])
    key = seed_schedules(app, web, ids)
    flows = seed_workflows(app, FLOWS)
    row_id = str(web.state.dash.store().rows()[1].id)
    values = {
        "queue": [("q", QUEUE)],
        "task_id": [(s, ids[s][0]) for s in ("retry", "archived", "completed", "active")],
        "row_id": [("row", row_id)],
        "key": [("entry", key)],
        "workflow_id": [(s, flows[s].id) for s in ("running", "failed")],
    }
    page.context.add_init_script(FAST_REFRESH)
    found: dict[str, Any] = {}

    page.goto(f"{PREFIX}/login")
    measure(page, "login", shots, found, logged_in=False)
    page.set_viewport_size({"width": 1440, "height": 900})
    page.fill("#key", ADMIN_KEY)
    page.click("button[type=submit]")
    page.wait_for_url(f"**{PREFIX}")

    urls = [("error", f"{PREFIX}/no-such-page")]
    for route in page_routes(web):
        if route.name != "login":
            urls += variants(route, values)
    for name, url in urls:
        page.set_viewport_size({"width": 1440, "height": 900})
        response = page.goto(url)
        assert response is not None, url
        if "text/html" not in response.headers.get("content-type", ""):
            continue
        assert (response.status == 404) == (name == "error"), f"{url}: {response.status}"
        wait_for_refresh(page)
        measure(page, name, shots, found, logged_in=True)

        if name == "servers":
            check_servers(page, ids["active"], shots)
        if name == "schedules":
            check_schedules(page)

    (shots / "widths.json").write_text(json.dumps(found, indent=1, sort_keys=True) + "\n")
    wide = [
        f"{k}: {v['scroll']} > {v['inner']}" for k, v in found.items() if v["scroll"] > v["inner"]
    ]
    no_logout = [k for k, v in found.items() if v["logout"] is False]
    no_nav = [f"{k}: {v['nav_away']}" for k, v in found.items() if v["nav_away"]]
    cut = [f"{k}: {v['cut']}" for k, v in found.items() if k.endswith("@1440") and v["cut"]]
    assert not wide, "pages wider than the window:\n" + "\n".join(wide)
    assert not no_logout, f"Log out out of reach: {no_logout}"
    assert not no_nav, "navigation links out of the window:\n" + "\n".join(no_nav)
    assert not cut, "cut off at 1440 px:\n" + "\n".join(cut)
    page.errors[:] = [e for e in page.errors if "404" not in e]
    assert page.errors == []
