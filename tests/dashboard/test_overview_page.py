"""The overview page as served (no browser): the problems first, the queue rows and cards
they name flagged with a word, and today's figures per task type from a real worker."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from bingo_core.app import App


def section(html: str, marker: str) -> str:
    start = html.index(marker)
    return html[start : html.index("</table>", start)]


def test_problems_lead_and_task_types_show_today(
    app: App, admin: Any, bingo_worker: Callable[..., None]
) -> None:
    page = admin.get("/queue").text
    assert "No problems found now." in page and 'class="flagged' not in page
    for i in range(3):
        app.client.enqueue("demo:greet", {"name": f"n{i}"})
    bingo_worker(app)
    app.client.enqueue("demo:free", {}, queue="nobody")
    page = admin.get("/queue").text
    assert page.index('id="problems"') < page.index("<h2>Queues</h2>")
    (item,) = re.findall(r'<li class="problem critical">.*?</li>', page, re.S)
    assert '<span class="sev critical">critical</span>' in item
    assert "unserved_queue" in item and "queue nobody: 1 pending task(s)" in item
    row = re.search(r'<tr data-k="nobody" class="flagged critical">.*?</tr>', page, re.S)
    assert row and '<span class="badge flag critical">no worker</span>' in row.group(0)
    assert not re.search(r'<tr data-k="default" class="flagged', page)
    card = re.search(r'<div class="stat flagged critical" data-card-kind="unserved_queue">', page)
    assert card
    types = section(page, 'id="types"')
    cells = re.findall(r'<td class="num" data-v="([^"]*)"', types.split("demo:greet", 1)[1])
    assert cells[:3] == ["3", "0", "0.0"]  # processed, failed, error rate
    assert "failing" not in types
