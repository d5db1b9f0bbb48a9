"""The finance console in a real browser (the system's Chromium, driven by Playwright) on the running stack.

After a demo-sized run (the demo's own stores, centres, transporter and recycler; a few
hundred events), a finance key signs in through the login form and each page is read:
the figures it shows, parsed back from what a person sees, equal the HTTP API's (or,
for the two reports the API does not serve, the ledger's own use case). A visit
without a session shows the login and no figure; the login is reachable by keyboard;
a producer key is refused; the key never reaches a URL, a cookie or the gateway's log.
Every page, the login's too, is checked as drawn: each visible text's contrast (WCAG AA),
a label for each field, charts as titled images, no sideways scroll on a laptop's screen,
Tab reaching every link, field and button with a visible focus, and nothing fetched from
another origin (the console works offline). The test of the targets page takes a
screenshot of it into pytest's temporary folder; with TAKEBACK_UPDATE_SCREENSHOT=1 it
writes docs/console.png instead (the README shows it), so a plain run leaves the tracked
file alone.
"""

from __future__ import annotations

import asyncio
import os
import re
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright

from services.demo.runner import Demo
from services.gateway.adapters.key_repository import PostgresKeyRepository
from services.gateway.domain.keys import parse_presented
from services.gateway.service_layer.keys import create_key
from services.ledger.service_layer import fund_adequacy, liability_by_age

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1366, "height": 860}  # a laptop's screen
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "console.png"
UPDATE_SCREENSHOT = "TAKEBACK_UPDATE_SCREENSHOT"  # =1: the targets page's test refreshes SCREENSHOT
PAGES = [
    "reconciliation",
    "balances",
    "settlement",
    "discrepancies",
    "liability",
    "fund",
    "targets",
    "battery",
]
ATTEMPTS = 5  # a read of the page between two equal reads of the API; again if the books moved meanwhile
# Skipped by hand where Chromium is missing; never in CI, where scripts/setup installs it: there a missing
# browser fails the browser fixture instead of passing unseen.
pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists() and not os.environ.get("CI"),
    reason="Chromium is not installed (scripts/setup does)",
)


def base_url(settings) -> str:
    return f"http://{settings.http_host}:{settings.http_port}"


@pytest.fixture(scope="module")
async def browser() -> Browser:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


async def _key(owner_pool, kind: str, source_id: str) -> str:
    async with owner_pool.acquire() as connection:
        plaintext, _ = await create_key(PostgresKeyRepository(connection), kind, source_id)
    return plaintext


@pytest.fixture(scope="module")
async def demo_run(stack, settings):
    """A demo-sized run through the stack: about 250 events over HTTP and Kafka, applied and posted."""
    return await Demo(settings, batteries=200, months=4, seed=16, progress=lambda *_: None).run_all()


@pytest.fixture(scope="module")
async def finance_key(owner_pool) -> str:
    return await _key(owner_pool, "finance", "finance-console")


@pytest.fixture(scope="module")
async def api(settings, finance_key):
    async with httpx.AsyncClient(
        base_url=base_url(settings), timeout=30.0, headers={"Authorization": f"Bearer {finance_key}"}
    ) as client:
        yield client


async def get(api: httpx.AsyncClient, path: str, **params) -> dict:
    response = await api.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def signed_in(browser: Browser, settings, key: str) -> Page:
    context = await browser.new_context(viewport=VIEWPORT, base_url=base_url(settings))
    page = await context.new_page()
    await page.goto("/console/login")
    await page.fill("#key", key)
    await page.click("button[type=submit]")
    await page.wait_for_url("**/console/reconciliation")
    return page


def minor(text: str) -> tuple[int, str]:
    """`12,500.00 EUR` -> (1250000, "EUR"): what the page shows, back to the API's minor units."""
    match = re.fullmatch(r"(-?[\d,]+(?:\.(\d+))?) ([A-Z]{3})", text.strip())
    assert match, f"not an amount with its currency: {text!r}"
    return int(Decimal(match.group(1).replace(",", "")).scaleb(len(match.group(2) or ""))), match.group(3)


def figure_of(text: str):
    """A check's figure as the page writes it, back to the API's value: `12.50 EUR; 3 JPY` -> {"EUR": 1250,
    "JPY": 3}, `1,017` -> 1017, `—` -> None, anything else its text."""
    if text == "—":
        return None
    if re.fullmatch(r"-?[\d,]+", text):
        return int(text.replace(",", ""))
    parts = text.split("; ")
    if all(re.fullmatch(r"-?[\d,]+(?:\.\d+)? [A-Z]{3}", part) for part in parts):
        return {currency: amount for amount, currency in map(minor, parts)}
    return text


def api_figure(value):
    """The API's value as figure_of reads it: amounts per currency and counts as they are, else the page's
    text of it (services.gateway.entrypoints.console.formatting.figure)."""
    from services.gateway.entrypoints.console.formatting import figure

    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    if isinstance(value, dict) and value and all(re.fullmatch(r"[A-Z]{3}", k) for k in value):
        return value
    return figure(value)


async def cells(page: Page, selector: str) -> list[str]:
    return [text.strip() for text in await page.locator(selector).all_inner_texts()]


async def settled(read_api, read_page):
    """The page's figures and the API's, read API - page - API until both API reads agree (nothing moved)."""
    for _ in range(ATTEMPTS):
        before = await read_api()
        shown = await read_page()
        if await read_api() == before:
            return before, shown
        await asyncio.sleep(0.5)
    raise AssertionError("the books kept moving while the page was read")


# -- without a session -------------------------------------------------------------------
async def test_every_page_without_a_session_shows_the_login_and_no_figure(browser, settings, demo_run):
    context = await browser.new_context(viewport=VIEWPORT, base_url=base_url(settings))
    page = await context.new_page()
    for name in PAGES + ["battery?serial=BAT-000001"]:
        response = await page.goto(f"/console/{name}")
        assert response.status == 200 and "/console/login" in page.url, name
        assert await page.locator("#key").count() == 1
        assert await page.locator("table, svg, #battery").count() == 0, f"{name} shows figures to nobody"
        assert "liability:deposits" not in await page.content()
    await context.close()


async def test_the_login_is_reachable_and_usable_by_keyboard_alone(browser, settings, finance_key):
    context = await browser.new_context(viewport=VIEWPORT, base_url=base_url(settings))
    page = await context.new_page()
    await page.goto("/console/login")
    await page.evaluate("document.activeElement && document.activeElement.blur()")
    reached = []
    for _ in range(6):
        await page.keyboard.press("Tab")
        reached.append(await page.evaluate("document.activeElement.id || document.activeElement.tagName"))
        if reached[-1] == "key":
            break
    assert reached[-1] == "key", f"Tab went through {reached} without reaching the key's field"
    assert await page.evaluate("document.querySelector('label[for=key]').textContent") == "Finance API key"
    await page.keyboard.type(finance_key)
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.textContent.trim()") == "Sign in"
    await page.keyboard.press("Enter")
    await page.wait_for_url("**/console/reconciliation")
    # The pages' links are reachable by Tab as well: the skip link first, then the navigation.
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.textContent.trim()") == "Skip to content"
    await context.close()


async def test_a_producer_key_is_refused_at_login_and_the_key_goes_nowhere(
    browser, settings, owner_pool, finance_key
):
    producer = await _key(owner_pool, "pos", "store-console")
    context = await browser.new_context(viewport=VIEWPORT, base_url=base_url(settings))
    page = await context.new_page()
    await page.goto("/console/login")
    await page.fill("#key", producer)
    await page.click("button[type=submit]")
    alert = page.locator("[role=alert]")
    assert "not a finance key" in await alert.inner_text()
    assert "/console/login" in page.url and producer not in page.url
    assert not [c for c in await context.cookies() if c["name"] == "takeback_console"]
    await context.close()

    page = await signed_in(browser, settings, finance_key)
    [cookie] = [c for c in await page.context.cookies() if c["name"] == "takeback_console"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/console"
    assert cookie["expires"] == -1  # a session cookie: it ends with the browser
    secret = parse_presented(finance_key)[1]  # as the key is parsed: the secret itself may hold "_"
    assert secret not in cookie["value"] and secret not in page.url
    log = (settings.state_dir / "logs" / "gateway.log").read_text(errors="replace")
    assert secret not in log and parse_presented(producer)[1] not in log
    await page.click("text=Sign out")
    await page.wait_for_url("**/console/login?signed_out=1")
    await page.goto("/console/balances")
    assert "/console/login" in page.url
    await page.context.close()


# -- each page against the API -----------------------------------------------------------
async def test_reconciliation_shows_the_api_run(browser, settings, demo_run, api, finance_key):
    page = await signed_in(browser, settings, finance_key)

    async def shown():
        await page.goto("/console/reconciliation")
        rows = {}
        for row in await page.locator("#checks tbody tr").all():
            rows[(await row.get_attribute("data-check"))] = tuple(
                [
                    (await row.locator(f"td{cell}").inner_text()).strip()
                    for cell in (":first-of-type", ".expected", ".actual")
                ]
            )
        return (await page.locator("#reconciliation-status").inner_text(), rows)

    body, (status, rows) = await settled(lambda: get(api, "/v1/finance/reconciliation"), shown)
    assert body["status"] in status and body["run_id"] in status
    assert {name: result for name, (result, _, _) in rows.items()} == {
        check["name"]: "ok" if check["ok"] else "differs" for check in body["checks"]
    }
    # Each check's expected and actual, read back from the page: money per currency, a count, or its text.
    assert {name: (figure_of(e), figure_of(a)) for name, (_, e, a) in rows.items()} == {
        check["name"]: (api_figure(check["expected"]), api_figure(check["actual"]))
        for check in body["checks"]
    }

    await page.context.close()


async def test_discrepancies_show_the_api_list(browser, settings, demo_run, api, finance_key):
    page = await signed_in(browser, settings, finance_key)

    async def shown(query: str):
        await page.goto(f"/console/discrepancies?{query}")
        return await page.locator("#discrepancies tbody tr").evaluate_all(
            "rows => rows.map(r => [r.dataset.discrepancy, r.dataset.status])"
        )

    def listed(body: dict) -> list[list[str]]:
        return [[d["discrepancy_id"], d["status"]] for d in body["discrepancies"]]

    # The demo's finance resolves what it opened each month (contract 8.1), so the open list may be empty;
    # every list, and those the demo surely fills (all, resolved, a kind it opens), must equal the API's.
    for query, params, filled in (
        ("status=open", {"status": "open"}, False),
        ("status=resolved", {"status": "resolved"}, True),
        ("status=all", {}, True),
        ("status=all&kind=serial_already_in_market", {"kind": "serial_already_in_market"}, True),
    ):

        async def from_api(p=params):
            return listed(await get(api, "/v1/discrepancies", **p))

        expected, rows = await settled(from_api, lambda q=query: shown(q))
        assert rows == expected, query
        assert rows or not filled, f"the demo opens and resolves discrepancies ({query})"
    await page.context.close()


async def test_settlement_statements_equal_the_api(browser, settings, demo_run, api, finance_key):
    page = await signed_in(browser, settings, finance_key)
    await page.click("nav >> text=Settlement")
    period = {"from": await page.input_value("#from"), "to": await page.input_value("#to")}

    async def shown():
        await page.goto(f"/console/settlement?from={period['from']}&to={period['to']}")
        rows = {}
        for party, currency, *amounts in await page.locator("#settlement tbody tr").evaluate_all(
            "rows => rows.map(r => [r.dataset.counterparty, r.dataset.currency].concat("
            "['opening', 'charges', 'payments', 'closing'].map(c => r.querySelector('td.' + c).innerText)))"
        ):
            parsed = [minor(text) for text in amounts]
            assert {c for _, c in parsed} == {currency}
            rows[(party, currency)] = tuple(value for value, _ in parsed)
        return rows

    async def from_api():
        body = await get(api, "/v1/finance/settlement", **period)
        return {
            (f"{s['counterparty']['kind']}/{s['counterparty']['id']}", s["currency"]): (
                s["opening"],
                s["charges"],
                s["payments"],
                s["closing"],
            )
            for s in body["statements"]
        }

    expected, rows = await settled(from_api, shown)
    assert rows == expected
    assert any(party.startswith("store/") for party, _ in rows), "the demo's stores owe the scheme"
    await page.goto("/console/settlement?from=2026-12-01&to=2026-11-01")
    assert "after" in (await page.locator("[role=alert]").inner_text())
    await page.context.close()


async def test_balances_equal_the_api_account_by_account(browser, settings, demo_run, api, finance_key):
    page = await signed_in(browser, settings, finance_key)

    async def shown():
        await page.goto("/console/balances")
        rows = {}
        for account, currency, *amounts in await page.locator("#balances tbody tr").evaluate_all(
            "rows => rows.map(r => [r.dataset.account, r.dataset.currency,"
            " r.querySelector('td.debit').innerText, r.querySelector('td.credit').innerText,"
            " r.querySelector('td.balance').innerText])"
        ):
            (debit, c1), (credit, c2), (balance, c3) = (minor(text) for text in amounts)
            assert c1 == c2 == c3 == currency
            assert balance == debit - credit
            rows[(account, currency)] = (debit, credit)
        return rows

    async def from_api():
        return {
            (b["account"], b["currency"]): (b["debit"], b["credit"])
            for b in (await get(api, "/v1/finance/balances"))["balances"]
        }

    expected, rows = await settled(from_api, shown)
    assert rows == expected
    assert any(account.startswith("clearing:store:") for account, _ in rows)  # the demo's stores are there
    await page.context.close()


def screenshot_path(tmp_path: Path) -> Path:
    """docs/console.png only when TAKEBACK_UPDATE_SCREENSHOT=1 asks for it; else the test's own temporary
    folder, so that running the tests never changes a tracked file."""
    return SCREENSHOT if os.environ.get(UPDATE_SCREENSHOT) == "1" else tmp_path / SCREENSHOT.name


async def test_targets_show_the_api_collection_and_recovery_rates(
    browser, settings, demo_run, api, finance_key, tmp_path
):
    page = await signed_in(browser, settings, finance_key)
    await page.set_viewport_size(VIEWPORT)

    async def shown():
        await page.goto("/console/targets")
        collection = {}
        for row in await page.locator("#collection tbody tr").all():
            key = (int(await row.get_attribute("data-year")), await row.get_attribute("data-category"))
            collection[key] = (
                int((await row.locator("td.sold").inner_text()).replace(",", "")),
                int((await row.locator("td.collected").inner_text()).replace(",", "")),
                (await row.locator("td.rate").inner_text()).strip(),
            )
        recovery = {
            await row.get_attribute("data-material"): (
                (await row.locator("td.rate").inner_text()).strip(),
                (await row.locator("td.left-out").inner_text()).strip(),
            )
            for row in await page.locator("#recovery tbody tr").all()
        }
        coverage = (await page.locator("#recovery caption .coverage").inner_text()).strip()
        return collection, (recovery, coverage)

    async def from_api():
        return await get(api, "/v1/reports/collection"), await get(api, "/v1/reports/recovery")

    (collection, recovery), (shown_collection, (shown_recovery, coverage)) = await settled(from_api, shown)

    def rate(text: str) -> str | None:
        return None if text == "—" else str(Decimal(text.removesuffix(" %").replace(",", "")))

    assert {k: (sold, collected, rate(r)) for k, (sold, collected, r) in shown_collection.items()} == {
        (row["year"], row["category"]): (
            row["sold"],
            row["collected"],
            None if row["collection_rate_percent"] is None else str(Decimal(row["collection_rate_percent"])),
        )
        for row in collection["rows"]
    }
    assert {m: (rate(r), left_out) for m, (r, left_out) in shown_recovery.items()} == {
        row["material"]: (
            None if row["recovery_rate_percent"] is None else str(Decimal(row["recovery_rate_percent"])),
            row["recovered_kg_left_out"],
        )
        for row in recovery["materials"]
    }
    # The rates cover only the lots of batteries of known composition: the page says how much that is.
    assert rate(coverage) == (
        None if recovery["coverage_percent"] is None else str(Decimal(recovery["coverage_percent"]))
    )
    assert await page.locator("svg#collection-chart[role=img] rect").count() >= 1
    assert "recovery rate" in await page.locator("svg#recovery-chart title").first.text_content()
    screenshot = screenshot_path(tmp_path)
    screenshot.parent.mkdir(exist_ok=True)
    await page.screenshot(path=str(screenshot), full_page=False)
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    await page.context.close()


async def test_targets_show_the_api_collection_by_weight_and_recycling_efficiency(
    browser, settings, demo_run, api, finance_key
):
    """Contract 8.3: the weight basis (Annex XI) and the efficiency per chemistry group (Annex XII Part B)."""
    page = await signed_in(browser, settings, finance_key)

    async def shown():
        await page.goto("/console/targets")
        weight = {
            (int(await row.get_attribute("data-year")), await row.get_attribute("data-category")): (
                (await row.locator("td.collected").inner_text()).strip(),
                (await row.locator("td.placed").inner_text()).strip(),
                (await row.locator("td.rate").inner_text()).strip(),
            )
            for row in await page.locator("#collection-weight tbody tr").all()
        }
        efficiency = {
            await row.get_attribute("data-group"): (await row.locator("td.rate").inner_text()).strip()
            for row in await page.locator("#efficiency tbody tr").all()
        }
        return weight, efficiency

    async def from_api():
        return (
            await get(api, "/v1/reports/collection", basis="weight"),
            await get(api, "/v1/reports/recycling-efficiency"),
        )

    (weight, efficiency), (shown_weight, shown_efficiency) = await settled(from_api, shown)

    def rate(text: str) -> str | None:
        return None if text == "—" else str(Decimal(text.removesuffix(" %").replace(",", "")))

    def api_rate(value: str | None) -> str | None:
        return None if value is None else str(Decimal(value))

    assert {k: (c, p, rate(r)) for k, (c, p, r) in shown_weight.items()} == {
        (row["year"], row["category"]): (
            row["collected_kg"],
            row["average_placed_kg"],
            api_rate(row["collection_rate_percent"]),
        )
        for row in weight["rows"]
    }
    assert shown_weight, "the demo sells and collects batteries"
    assert {g: rate(r) for g, r in shown_efficiency.items()} == {
        g["group"]: api_rate(g["recycling_efficiency_percent"]) for g in efficiency["groups"]
    }
    await page.context.close()


async def test_liability_and_fund_show_the_ledger_reports(browser, settings, demo_run, pool, finance_key):
    page = await signed_in(browser, settings, finance_key)

    async def liability_shown():
        await page.goto("/console/liability")
        return {
            (await row.get_attribute("data-currency"), await row.get_attribute("data-age")): (
                int((await row.locator("td.batteries").inner_text()).replace(",", "")),
                minor(await row.locator("td.deposits").inner_text())[0],
            )
            for row in await page.locator("#liability tbody tr").all()
        }

    async def liability_read():
        body = await liability_by_age(pool)
        return {(b["currency"], b["age"]): (b["batteries"], b["deposits"]) for b in body["buckets"]}

    expected, shown = await settled(liability_read, liability_shown)
    assert shown == expected and shown

    async def fund_shown():
        await page.goto("/console/fund")
        figures = {}
        for currency, *texts in await page.locator("section.fund").evaluate_all(
            "sections => sections.map(s => [s.dataset.currency].concat(['fund-balance', 'expected-cost', "
            "'shortfall', 'surplus'].map(name => s.querySelector('dd.' + name).innerText.trim())))"
        ):
            figures[currency] = tuple(None if text == "—" else minor(text)[0] for text in texts)
        return figures

    async def fund_read():
        return {
            row["currency"]: (row["fund_balance"], row["expected_cost"], row["shortfall"], row["surplus"])
            for row in (await fund_adequacy(pool))["currencies"]
        }

    expected, shown = await settled(fund_read, fund_shown)
    assert shown == expected and shown
    await page.context.close()


async def test_a_battery_found_by_serial_shows_its_custody_chain(
    browser, settings, demo_run, pool, api, finance_key
):
    serial = await pool.fetchval(
        "SELECT serial FROM scheme.batteries WHERE state = 'recycled' "
        "AND serial LIKE 'BAT-%' ORDER BY serial LIMIT 1"
    )
    assert serial, "the demo recycles batteries"
    body = await get(api, f"/v1/batteries/{serial}")
    page = await signed_in(browser, settings, finance_key)
    await page.click("nav >> text=Battery")
    await page.fill("#serial", serial)
    await page.press("#serial", "Enter")
    await page.wait_for_selector("#battery")
    assert f"serial={serial}" in page.url
    assert (await page.locator("dd.state").inner_text()).strip() == body["state"]
    assert minor(await page.locator("dd.deposit-charged").inner_text()) == (
        body["deposit_charged"],
        body["currency"],
    )
    assert minor(await page.locator("dd.deposit-refunded").inner_text()) == (
        body["deposit_refunded"],
        body["currency"],
    )
    steps = await page.locator("#custody li").evaluate_all("items => items.map(i => i.dataset.eventType)")
    assert steps == [step["event_type"] for step in body["history"]] and len(steps) >= 4
    passport = await get(api, f"/v1/batteries/{serial}/passport")  # contract 8.3
    assert (await page.locator("dd.passport-status").inner_text()).strip() == passport["status"] == "waste"
    assert (await page.locator("dd.mass").inner_text()).strip() == f"{passport['mass_kg']} kg"
    await page.goto("/console/battery?serial=NO-SUCH-SERIAL-16")
    assert "No battery with serial NO-SUCH-SERIAL-16" in await page.locator("[role=alert]").inner_text()
    await page.context.close()


# -- accessibility, a laptop's screen, offline -------------------------------------------
# WCAG 2.1 AA in the page as the browser draws it: every visible text's colour against the background it is
# drawn on (4.5:1, 3:1 for large text), every form field with a label, every chart an image with a title.
AUDIT_JS = """() => {
  const rgba = text => {
    const m = text.match(/rgba?\\(([^)]+)\\)/);
    if (!m) return null;
    const p = m[1].split(/[ ,\\/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  };
  const over = (top, below) => top.slice(0, 3).map((c, i) => c * top[3] + below[i] * (1 - top[3])).concat(1);
  const background = element => {
    const layers = [];
    for (let e = element; e; e = e.parentElement) {
      const c = rgba(getComputedStyle(e).backgroundColor);
      if (c && c[3] > 0) { layers.push(c); if (c[3] === 1) break; }
    }
    return layers.reverse().reduce((below, top) => over(top, below), [255, 255, 255, 1]);
  };
  const opacity = element => {
    let o = 1;
    for (let e = element; e; e = e.parentElement) o *= Number(getComputedStyle(e).opacity);
    return o;
  };
  const luminance = c => c.slice(0, 3).map(v => v / 255)
    .map(v => v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4))
    .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
  const visible = e => e.getClientRects().length > 0 && getComputedStyle(e).visibility !== "hidden"
    && e.getBoundingClientRect().right > 0;
  const low = [];
  for (const element of document.querySelectorAll("body *")) {
    const text = [...element.childNodes].filter(n => n.nodeType === 3).map(n => n.textContent)
      .join("").trim();
    if (!text || !visible(element) || element.closest("title, desc, option")) continue;
    const style = getComputedStyle(element);
    const below = background(element);
    const ink = rgba(element instanceof SVGElement ? style.fill : style.color);
    if (!ink) { low.push([text.slice(0, 40), "no colour", 0]); continue; }
    ink[3] *= opacity(element);
    const fg = over(ink, below);
    const [a, b] = [luminance(fg), luminance(below)].sort((x, y) => y - x);
    const ratio = (a + 0.05) / (b + 0.05);
    const size = parseFloat(style.fontSize), bold = Number(style.fontWeight) >= 700;
    const needed = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
    if (ratio < needed) low.push([text.slice(0, 40), style.color, Math.round(ratio * 100) / 100]);
  }
  const unlabelled = [...document.querySelectorAll("input, select, textarea")]
    .filter(e => e.type !== "hidden" && e.labels.length === 0 && !e.getAttribute("aria-label"))
    .map(e => e.id || e.name);
  const charts = [...document.querySelectorAll("svg")].map(svg => [svg.id, svg.getAttribute("role"),
    (svg.getAttribute("aria-labelledby") || "").split(" ").filter(Boolean)
      .every(id => (document.getElementById(id) || {}).textContent)]);
  const focusable = [...document.querySelectorAll("a[href], button, input:not([type=hidden]), select")]
    .filter(visible).length;
  return {low, unlabelled, charts, focusable,
          h1: document.querySelectorAll("h1").length, main: document.querySelectorAll("main").length,
          overflow: document.documentElement.scrollWidth - document.documentElement.clientWidth};
}"""


FOCUSED_JS = """() => {
  const e = document.activeElement;
  if (!e || e === document.body) return [null, false];
  const s = getComputedStyle(e);
  // Focus inside a field's own parts (a date field's calendar button): the browser draws that ring itself.
  const own = !e.matches(":focus");
  return [e.outerHTML.slice(0, 120), own || (s.outlineStyle !== "none" && parseFloat(s.outlineWidth) > 0)];
}"""


async def test_every_page_is_readable_labelled_keyboard_usable_and_fetches_nothing_from_elsewhere(
    browser, settings, demo_run, pool, finance_key
):
    serial = await pool.fetchval(
        "SELECT serial FROM scheme.batteries WHERE serial LIKE 'BAT-%' ORDER BY serial LIMIT 1"
    )
    context = await browser.new_context(viewport=VIEWPORT, base_url=base_url(settings))
    login = await context.new_page()
    await login.goto("/console/login")
    audit = await login.evaluate(AUDIT_JS)
    assert (audit["low"], audit["unlabelled"], audit["overflow"] <= 0) == ([], [], True), audit
    await context.close()
    page = await signed_in(browser, settings, finance_key)
    elsewhere: list[str] = []
    page.on(
        "request",
        lambda request: None if request.url.startswith(base_url(settings)) else elsewhere.append(request.url),
    )
    for name in [*PAGES, "discrepancies?status=all", f"battery?serial={serial}"]:
        await page.goto(f"/console/{name}")
        assert "/console/login" not in page.url, name
        audit = await page.evaluate(AUDIT_JS)
        assert audit["low"] == [], f"{name}: text below the contrast WCAG AA asks for: {audit['low']}"
        assert audit["unlabelled"] == [], f"{name}: fields without a label: {audit['unlabelled']}"
        assert all(role == "img" and titled for _, role, titled in audit["charts"]), (name, audit["charts"])
        assert audit["h1"] == 1 and audit["main"] == 1, name
        assert audit["overflow"] <= 0, (
            f"{name} scrolls sideways on a laptop's screen ({audit['overflow']} px)"
        )
        # Tab reaches every link, field and button, in turn, each with a visible focus ring.
        await page.evaluate("document.activeElement && document.activeElement.blur()")
        reached = set()
        for _ in range(3 * audit["focusable"] + 3):  # a date field takes a Tab for each of its parts
            await page.keyboard.press("Tab")
            focused, ring = await page.evaluate(FOCUSED_JS)
            if focused is None:
                break  # past the last one: the browser's own controls
            assert ring, f"{name}: no visible focus on {focused}"
            reached.add(focused)
        assert len(reached) >= audit["focusable"], (
            f"{name}: Tab reached {len(reached)} of {audit['focusable']}"
        )
    assert elsewhere == [], f"the console fetched from elsewhere (it must work offline): {elsewhere}"
    await page.context.close()
