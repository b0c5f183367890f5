"""The Analytics page and its JSON endpoint: figures, charts that are well-formed SVG, alerts
with links to the chat, the failed-commands table and its filter, the period switch, empty
states, and who may look (owners and agents; outsiders get 404)."""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET
from datetime import date

from panelpilot.console.charts import Bar, DayBar, bar_chart, daily_chart
from panelpilot.context import Context
from panelpilot.db.base import utcnow
from tests.console.conftest import ClientFactory
from tests.console.helpers import AGENT, OUTSIDER, OWNER, field_errors
from tests.orders.test_analytics import seed_alerts, seed_log
from tests.support import Tenants

SVG = "{http://www.w3.org/2000/svg}"


def svgs(page: str) -> list[ET.Element]:
    """Every inline chart of a page, parsed as XML (fails on markup that is not well-formed)."""
    return [ET.fromstring(block) for block in re.findall(r"<svg\b.*?</svg>", page, re.S)]


def text_of(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


# --- charts --------------------------------------------------------------------------------


def test_bar_chart_is_accessible_well_formed_svg() -> None:
    chart = bar_chart([Bar("refill", 30), Bar("<script>alert(1)</script>", 10, note="a & b"),
                       Bar("speed", 0)], title="Commands by action", unit="commands")
    root = ET.fromstring(str(chart))
    assert root.tag == f"{SVG}svg" and root.get("role") == "img"
    title = root.find(f"{SVG}title")
    desc = root.find(f"{SVG}desc")
    assert title is not None and title.text == "Commands by action"
    assert desc is not None and "refill: 30 commands" in (desc.text or "")
    assert root.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
    assert "<script>" not in str(chart)  # labels are escaped
    bars = [r for r in root.iter(f"{SVG}rect") if r.get("class", "").startswith("bar")]
    widths = [float(r.get("width", "0")) for r in bars]
    assert widths[0] > widths[1] > widths[2] == 0
    tips = [t.text for g in root.iter(f"{SVG}g") for t in g.findall(f"{SVG}title")]
    assert "refill: 30 commands, 75%" in tips


def test_daily_chart_stacks_failures_and_labels_days() -> None:
    days = [DayBar(date(2025, 1, d), total=d * 10, bad=d) for d in range(1, 31)]
    root = ET.fromstring(str(daily_chart(days, title="Commands per day")))
    bad = [r for r in root.iter(f"{SVG}rect") if r.get("class") == "bar bar-bad"]
    assert len(bad) == 30
    labels = [t.text for t in root.iter(f"{SVG}text")]
    assert "01 Jan" in labels and "0" in labels and "300" in labels  # y axis up to 300
    assert len([x for x in labels if x and x[0].isdigit() and " " in x]) <= 10
    desc = root.find(f"{SVG}desc")
    assert desc is not None and "4,650 commands over 30 days, 465 failed" in (desc.text or "")


def test_charts_say_when_there_is_nothing_to_draw() -> None:
    for chart in (bar_chart([], title="Dispatches", empty="Nothing was sent."),
                  bar_chart([Bar("a", 0)], title="Dispatches", empty="Nothing was sent."),
                  daily_chart([DayBar(date(2025, 2, 1), 0, 0)], title="Per day",
                              empty="Nothing was sent.")):
        root = ET.fromstring(str(chart))
        assert "chart-empty" in root.get("class", "")
        assert [t.text for t in root.iter(f"{SVG}text")] == ["Nothing was sent."]


# --- the page ------------------------------------------------------------------------------


async def test_owner_sees_figures_charts_alerts_and_failed_commands(
    ctx: Context, clients: ClientFactory, tenants: Tenants
) -> None:
    now = utcnow()
    await seed_log(ctx, tenants.acme_id, now)
    owner = await clients(OWNER)
    r = await owner.get("/w/acme/analytics")
    assert r.status_code == 200
    page = text_of(r.text)
    assert "Linked chats" in page and "2 panel usernames" in page
    assert "Commands today" in page and "Failure rate" in page
    assert "95th percentile" in page and "Cooldown hits" in page
    assert 'aria-current="page">Last 30 days' in r.text
    charts = svgs(r.text)
    assert len(charts) == 4  # per day, by action, per provider, verdicts
    titles = [c.find(f"{SVG}title").text for c in charts]  # type: ignore[union-attr]
    assert "Commands by action over the last 30 days" in titles
    assert "Dispatches per provider over the last 30 days" in titles
    assert "smmprovider" in r.text and "Fallback group" in r.text
    # The failed-commands table: text, error type, suggestion, occurrences.
    assert "refil 2274209" in page and "Typo (close to a command)" in page
    assert "hello there" in page
    assert re.search(r"refil 2274209.*?<code>refill</code>.*?<strong>2</strong>", r.text, re.S)
    assert "No chat crossed an alert rule" in page


async def test_alerts_link_to_the_chat_and_its_commands(
    ctx: Context, clients: ClientFactory, tenants: Tenants
) -> None:
    await seed_alerts(ctx, tenants.acme_id, utcnow())
    owner = await clients(OWNER)
    r = await owner.get("/w/acme/analytics")
    page = text_of(r.text)
    assert "Asked about 6 orders it does not own" in page
    assert "Hit cooldowns 10 times" in page
    assert "Sent 10 messages the bot did not understand" in page
    assert "Probe Person" in page and "linked to mallory" in page
    assert 'href="/w/acme/chats?q=2001&amp;channel=tg"' in r.text
    assert re.search(r'href="/w/acme/commands\?chat_id=2001&amp;since=[\dT%A:-]+'
                     r'&amp;verdict=not_yours"', r.text)
    assert "2002" not in page.split("Suspicious alerts")[-1].split("Failed commands")[0]


async def test_periods_and_the_failed_filter(
    ctx: Context, clients: ClientFactory, tenants: Tenants
) -> None:
    await seed_log(ctx, tenants.acme_id, utcnow())
    owner = await clients(OWNER)
    week = await owner.get("/w/acme/analytics?days=7")
    assert 'aria-current="page">Last 7 days' in week.text
    assert "the last 7 days" in week.text
    typos = await owner.get("/w/acme/analytics?error_type=typo")
    assert "refil 2274209" in typos.text and "hello there" not in typos.text
    bad = await owner.get("/w/acme/analytics?days=12&error_type=nonsense")
    assert bad.status_code == 200
    assert "Choose a period from the list." in bad.text
    assert field_errors(bad.text) == {"error_type": "Choose an error type from the list."}
    assert "the last 30 days" in bad.text


async def test_empty_workspace_says_what_to_do(clients: ClientFactory, tenants: Tenants) -> None:
    owner = await clients(OWNER)
    r = await owner.get("/w/acme/analytics")
    assert r.status_code == 200
    assert "No commands yet" in r.text and "setup checklist" in r.text
    assert "<svg" not in r.text


async def test_agents_read_analytics_and_outsiders_get_404(
    ctx: Context, clients: ClientFactory, tenants: Tenants
) -> None:
    await seed_log(ctx, tenants.acme_id, utcnow())
    agent = await clients(AGENT)
    r = await agent.get("/w/acme/analytics")
    assert r.status_code == 200 and "refil 2274209" in r.text
    assert re.findall(r'<form method="post" action="([^"]+)"', r.text) == ["/logout"]
    assert 'href="/w/acme/analytics"' in (await agent.get("/w/acme")).text
    outsider = await clients(OUTSIDER)
    for url in ("/w/acme/analytics", "/w/acme/analytics?days=7"):
        assert (await outsider.get(url)).status_code == 404
    # The outsider's own workspace shows none of acme's figures.
    own = await outsider.get("/w/other/analytics")
    assert own.status_code == 200 and "No commands yet" in own.text


# --- the JSON endpoint ----------------------------------------------------------------------


async def test_api_returns_the_same_figures(
    ctx: Context, clients: ClientFactory, tenants: Tenants
) -> None:
    await seed_log(ctx, tenants.acme_id, utcnow())
    api = await clients()
    r = await api.get("/api/v1/workspaces/acme/orders/analytics?days=90",
                      headers=tenants.auth(tenants.agent))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["days"] == 90 and body["commands"] == 11
    assert body["failed"] == 4 and body["unrecognized"] == 3
    assert body["linked_chats"] == 3 and body["dispatches"] == 4
    assert body["p95_latency_ms"] == 5000
    assert len(body["daily"]) == 90 and body["daily"][-1]["day"] == utcnow().date().isoformat()
    assert body["failed_commands"][0] == {
        "text": "refil 2274209", "error_type": "typo", "suggestion": "refill",
        "occurrences": 2, "chats": 1, "last_seen": body["failed_commands"][0]["last_seen"]}
    assert {a["label"]: a["count"] for a in body["actions"]}["refill"] == 4
    assert body["alerts"] == []
    default = await api.get("/api/v1/workspaces/acme/orders/analytics",
                            headers=tenants.auth(tenants.owner))
    month = default.json()
    assert month["days"] == 30 and month["commands"] == sum(d["commands"] for d in month["daily"])
    for days in ("0", "367", "x"):
        bad = await api.get(f"/api/v1/workspaces/acme/orders/analytics?days={days}",
                            headers=tenants.auth(tenants.owner))
        assert bad.status_code == 422
    outsider = await api.get("/api/v1/workspaces/acme/orders/analytics",
                             headers=tenants.auth(tenants.outsider))
    assert outsider.status_code == 404
    anonymous = await api.get("/api/v1/workspaces/acme/orders/analytics")
    assert anonymous.status_code == 401


async def test_api_alerts(ctx: Context, clients: ClientFactory, tenants: Tenants) -> None:
    await seed_alerts(ctx, tenants.acme_id, utcnow())
    api = await clients()
    body = (await api.get("/api/v1/workspaces/acme/orders/analytics?days=7",
                          headers=tenants.auth(tenants.owner))).json()
    probe = next(a for a in body["alerts"] if a["kind"] == "not_yours")
    assert probe["chat_id"] == "2001" and probe["count"] == 6
    assert probe["channel_key"] == "tg" and probe["chat_title"] == "Probe Person"
    assert {a["kind"] for a in body["alerts"]} == {"not_yours", "cooldown", "unrecognized"}
