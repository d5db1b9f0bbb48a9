"""`/console`: the finance console's pages, server-rendered from the service layer the HTTP API uses.

A finance key is entered once in the login form (POST, never in a URL); the browser
then holds a signed session cookie (HttpOnly, SameSite=Strict, Secure over https)
that names the key by its public id only. Every page checks it, and looks the key
up again, so a revoked key is signed out at once. A visit without a valid session is
sent to the login form and shows no figure. Forms carry a CSRF token and a request
from another origin is refused. Nothing of the key is logged: the access log writes
the path, never the query or the body, and the login logs the key's public id.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from contracts.queries import DISCREPANCY_KINDS, InvalidCursor, InvalidPeriod, Position, period_bound
from services.common.logging import get_logger
from services.gateway.adapters.console_secret import console_secret
from services.gateway.domain.console_session import ConsoleSession, SessionSigner, new_login_nonce
from services.gateway.domain.errors import (
    Forbidden,
    InvalidRequest,
    NotFound,
    Refused,
    TooManyRequests,
    Unauthenticated,
)
from services.gateway.domain.keys import KeyHolder
from services.gateway.entrypoints.access_log import log_fields
from services.gateway.entrypoints.console import charts
from services.gateway.entrypoints.console.formatting import FILTERS, exponent, instant, money
from services.gateway.entrypoints.dependencies import gateway_of
from services.gateway.service_layer import console

log = get_logger("gateway.console")
router = APIRouter(prefix="/console", include_in_schema=False)

SESSION_COOKIE = "takeback_console"
LOGIN_COOKIE = "takeback_console_login"
COOKIE_PATH = "/console"
FORM_BYTES_MAX = 4096
HERE = Path(__file__).parent
SERIAL = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_NEXT = re.compile(r"/console(/[a-z-]+)?")

# The pages, in the order of the navigation: (path under /console, label).
NAV: list[tuple[str, str]] = [
    ("reconciliation", "Reconciliation"),
    ("balances", "Balances"),
    ("settlement", "Settlement"),
    ("discrepancies", "Discrepancies"),
    ("liability", "Liability by age"),
    ("fund", "Fund adequacy"),
    ("targets", "EU targets"),
    ("battery", "Battery"),
]
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",  # no-referrer would make the browser send `Origin: null` on forms
    "Cache-Control": "no-store",
}

templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
templates.filters.update(FILTERS)


# -- session ---------------------------------------------------------------------------
def signer_of(request: Request) -> SessionSigner:
    """One signer per app, its secret read (or made) in the state folder's secrets at first use."""
    signer = getattr(request.app.state, "console_signer", None)
    if signer is None:
        signer = request.app.state.console_signer = SessionSigner(
            console_secret(gateway_of(request).settings.state_dir)
        )
    return signer


def _now() -> int:
    return int(time.time())


async def _signed_in(request: Request) -> tuple[ConsoleSession | None, KeyHolder | None]:
    session = signer_of(request).read(request.cookies.get(SESSION_COOKIE), _now())
    holder = await console.session_holder(gateway_of(request).keys.repository, session)
    if holder is not None:
        log_fields(request)["key_id"] = holder.key_id
    return (session, holder) if holder is not None else (None, None)


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _same_origin(request: Request) -> bool:
    """A form posted from this console: an Origin header, when sent, names this host."""
    origin = request.headers.get("origin")
    if origin is None:
        return True  # SameSite=Strict cookies and the CSRF token still hold
    parts = urlsplit(origin)
    return parts.netloc == request.headers.get("host") and parts.scheme in ("http", "https")


async def _form(request: Request) -> dict[str, str] | None:
    """An urlencoded form of at most 4 KiB, each field once; None for anything else."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
        return None
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > FORM_BYTES_MAX:
            return None
    try:
        fields = parse_qs(body.decode(), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        return None
    if any(len(values) != 1 for values in fields.values()):
        return None
    return {name: values[0] for name, values in fields.items()}


def _page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("holder", None)
    context.setdefault("nav", NAV)
    html = templates.get_template(f"{name}.html").render(**context)
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


def _redirect(location: str) -> RedirectResponse:
    return RedirectResponse(location, status_code=303, headers=SECURITY_HEADERS)


def _safe_next(value: str | None) -> str:
    return value if value and _NEXT.fullmatch(value) else "/console"


def _login_page(
    request: Request,
    status: int = 200,
    *,
    error: str | None = None,
    notice: str | None = None,
    next_path: str = "/console",
) -> HTMLResponse:
    nonce = new_login_nonce()
    response = _page(
        "login",
        status,
        title="Sign in",
        page="login",
        error=error,
        notice=notice,
        csrf=signer_of(request).csrf_for_login(nonce),
        next=_safe_next(next_path),
    )
    response.set_cookie(
        LOGIN_COOKIE, nonce, path=COOKIE_PATH, httponly=True, samesite="strict", secure=_secure(request)
    )
    return response


# -- login, logout ---------------------------------------------------------------------
@router.get("/login")
async def login_form(request: Request) -> Response:
    _, holder = await _signed_in(request)
    next_path = _safe_next(request.query_params.get("next"))
    if holder is not None:
        return _redirect(next_path)
    notice = "You are signed out." if request.query_params.get("signed_out") == "1" else None
    return _login_page(request, notice=notice, next_path=next_path)


@router.post("/login")
async def login(request: Request) -> Response:
    gateway = gateway_of(request)
    form = await _form(request)
    if (
        not _same_origin(request)
        or form is None
        or not signer_of(request).check_login_csrf(request.cookies.get(LOGIN_COOKIE), form.get("csrf"))
    ):
        log_fields(request)["reason"] = "console_form_refused"
        return _login_page(
            request,
            400,
            error="This sign-in form had expired or did not come from this console. "
            "Please enter the key again.",
        )
    next_path = _safe_next(form.get("next"))
    host = request.client.host if request.client else None
    try:
        gateway.limits.check_address(host)
        try:
            holder = await console.login(gateway.keys, form.get("key", "").strip() or None)
        except Unauthenticated:
            gateway.limits.authentication_failed(host)
            raise
    except TooManyRequests as refused:
        log_fields(request)["reason"] = refused.reason
        return _login_page(
            request,
            429,
            error=f"Too many failed sign-ins from this address: try again in {refused.retry_after_s} s.",
            next_path=next_path,
        )
    except Unauthenticated as refused:
        log_fields(request)["reason"] = refused.reason
        return _login_page(
            request, 401, error=f"This key was not accepted: {refused.message}.", next_path=next_path
        )
    except Forbidden as refused:
        log_fields(request)["reason"] = refused.reason
        return _login_page(
            request,
            403,
            error=(
                "This is not a finance key, so it cannot open the console: "
                + refused.message
                + ". Sign in with a key made by `takeback keys create --kind finance --id <name>`."
            ),
            next_path=next_path,
        )
    token, session = signer_of(request).issue(holder.key_id, _now())
    log_fields(request)["key_id"] = holder.key_id
    log.info("console_signed_in", key_id=holder.key_id, expires_at=session.expires_at)
    response = _redirect(next_path)
    response.set_cookie(
        SESSION_COOKIE, token, path=COOKIE_PATH, httponly=True, samesite="strict", secure=_secure(request)
    )
    response.delete_cookie(
        LOGIN_COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict", secure=_secure(request)
    )
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    session, holder = await _signed_in(request)
    form = await _form(request)
    if session is None:
        return _redirect("/console/login")
    if (
        not _same_origin(request)
        or form is None
        or not signer_of(request).check_session_csrf(session, form.get("csrf"))
    ):
        log_fields(request)["reason"] = "console_form_refused"
        return _page(
            "error",
            400,
            title="Not signed out",
            page="error",
            holder=holder,
            csrf=signer_of(request).csrf_for_session(session),
            message="This sign-out form did not come from this console; you are still signed in.",
        )
    log.info("console_signed_out", key_id=session.key_id)
    response = _redirect("/console/login?signed_out=1")
    response.delete_cookie(
        SESSION_COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict", secure=_secure(request)
    )
    return response


@router.get("/static/console.css")
async def stylesheet() -> Response:
    return FileResponse(
        HERE / "static" / "console.css",
        media_type="text/css",
        headers={"Cache-Control": "max-age=300", "X-Content-Type-Options": "nosniff"},
    )


# -- pages -----------------------------------------------------------------------------
async def _render(request: Request, page: str, title: str, build) -> Response:
    """A page for a signed-in finance key; the login form for anyone else. `build(holder)`: its context."""
    session, holder = await _signed_in(request)
    if holder is None:
        target = request.url.path if _NEXT.fullmatch(request.url.path) else "/console"
        return _redirect(f"/console/login?next={quote(target)}")
    common = {
        "holder": holder,
        "csrf": signer_of(request).csrf_for_session(session),
        "page": page,
        "title": title,
        "read_at": instant(time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())),
    }
    try:
        gateway_of(request).limits.check_key(holder.key_id)
        context = await build(holder)
    except Refused as refused:
        log_fields(request)["reason"] = refused.reason
        return _page("error", refused.status, **common, message=f"{refused.message} ({refused.reason}).")
    return _page(context.pop("template", page), context.pop("status", 200), **{**common, **context})


@router.get("")
@router.get("/")
async def home(request: Request) -> Response:
    _, holder = await _signed_in(request)
    return _redirect("/console/reconciliation" if holder else "/console/login")


@router.get("/reconciliation")
async def reconciliation_page(request: Request) -> Response:
    async def build(holder: KeyHolder) -> dict:
        body = await console.reconciliation(gateway_of(request).reconciliations, holder)
        return {"body": body, "checks_ok": sum(1 for check in body["checks"] if check["ok"])}

    return await _render(request, "reconciliation", "Reconciliation", build)


@router.get("/balances")
async def balances_page(request: Request) -> Response:
    async def build(holder: KeyHolder) -> dict:
        return {"body": await console.balances(gateway_of(request).read_models, holder)}

    return await _render(request, "balances", "Balances", build)


@router.get("/discrepancies")
async def discrepancies_page(request: Request) -> Response:
    """`GET /v1/discrepancies` as a page: filtered by status and kind, newest first, a page at a time."""
    status = request.query_params.get("status", "open")
    kind = request.query_params.get("kind", "")
    cursor = request.query_params.get("cursor") or None

    async def build(holder: KeyHolder) -> dict:
        context: dict[str, Any] = {
            "filter_status": status,
            "kind": kind,
            "kinds": DISCREPANCY_KINDS,
            "error": None,
            "body": None,
            "next_href": None,
        }
        if status not in ("open", "resolved", "all") or (kind and kind not in DISCREPANCY_KINDS):
            return {**context, "status": 400, "error": "Choose a status and a kind from the lists."}
        try:
            after = Position.of_cursor(cursor) if cursor else None
        except InvalidCursor:
            return {
                **context,
                "status": 400,
                "error": "That page link is not one this list wrote: start again.",
            }
        body = await console.discrepancies(
            gateway_of(request).read_models, holder, None if status == "all" else status, kind or None, after
        )
        if body["next_cursor"]:
            context["next_href"] = "/console/discrepancies?" + urlencode(
                {"status": status, **({"kind": kind} if kind else {}), "cursor": body["next_cursor"]}
            )
        return {**context, "body": body}

    return await _render(request, "discrepancies", "Discrepancies", build)


@router.get("/settlement")
async def settlement_page(request: Request) -> Response:
    """`GET /v1/finance/settlement` as a page: a statement per counterparty and currency over [from, to)."""
    today = datetime.now(UTC).date()
    period_from = request.query_params.get("from") or today.replace(month=1, day=1).isoformat()
    period_to = request.query_params.get("to") or (today + timedelta(days=1)).isoformat()

    async def build(holder: KeyHolder) -> dict:
        context: dict[str, Any] = {
            "period_from": period_from,
            "period_to": period_to,
            "body": None,
            "error": None,
        }
        try:
            start, end = period_bound(period_from), period_bound(period_to)
        except InvalidPeriod as error:
            return {**context, "status": 400, "error": f"A period bound is {error}."}
        try:
            body = await console.settlement(gateway_of(request).read_models, holder, start, end)
        except InvalidRequest as refused:
            return {**context, "status": 400, "error": refused.message.removeprefix("query.to: ")}
        return {**context, "body": body}

    return await _render(request, "settlement", "Settlement statements", build)


@router.get("/liability")
async def liability_page(request: Request) -> Response:
    async def build(holder: KeyHolder) -> dict:
        body = await console.liability_by_age(gateway_of(request).read_models, holder)
        chart_list = []
        for currency in body["totals"]:
            rows = [row for row in body["buckets"] if row["currency"] == currency]
            bars = [
                charts.Bar(
                    label=row["age"],
                    value=row["deposits"] / 10 ** exponent(currency),
                    text=money(row["deposits"], currency),
                )
                for row in rows
            ]
            chart_list.append(
                (
                    currency,
                    charts.bar_chart(
                        f"liability-{currency}",
                        f"Deposit liability by age of sale, {currency}",
                        f"Deposits owed back on the batteries in use, in {currency}, by age of sale.",
                        bars,
                        axis_unit=f" {currency}",
                    ),
                )
            )
        return {"body": body, "charts": chart_list}

    return await _render(request, "liability", "Deposit liability by age", build)


@router.get("/fund")
async def fund_page(request: Request) -> Response:
    async def build(holder: KeyHolder) -> dict:
        body = await console.fund_adequacy(gateway_of(request).read_models, holder)
        currencies = []
        for row in body["currencies"]:
            scale = 10 ** exponent(row["currency"])
            bars = [
                charts.Bar(
                    "fund balance", row["fund_balance"] / scale, money(row["fund_balance"], row["currency"])
                )
            ]
            if row["expected_cost"] is not None:
                bars.append(
                    charts.Bar(
                        "expected cost",
                        row["expected_cost"] / scale,
                        money(row["expected_cost"], row["currency"]),
                    )
                )
            currencies.append(
                (
                    row,
                    charts.bar_chart(
                        f"fund-{row['currency']}",
                        f"Recycling fund against expected cost, {row['currency']}",
                        f"The fund holds {money(row['fund_balance'], row['currency'])}; recycling the "
                        f"batteries still to recycle is expected to cost "
                        f"{money(row['expected_cost'], row['currency'])}.",
                        bars,
                        axis_unit=f" {row['currency']}",
                    ),
                )
            )
        return {"body": body, "currencies": currencies}

    return await _render(request, "fund", "Recycling fund adequacy", build)


@router.get("/targets")
async def targets_page(request: Request) -> Response:
    async def build(holder: KeyHolder) -> dict:
        reports = await console.targets(gateway_of(request).read_models, holder)
        collection, recovery = reports["collection"], reports["recovery"]
        return {
            "collection": collection,
            "collection_weight": reports["collection_weight"],
            "recovery": recovery,
            "efficiency": reports["efficiency"],
            "meets": _meets,
            "collection_chart": charts.bar_chart(
                "collection-chart",
                "Collection rate by category and year, with the target in force",
                "One bar per category and year: the share of batteries sold that were collected; the black "
                "mark is the target in force that year.",
                charts.collection_bars(collection["rows"]),
                scale_max=100,
                axis_unit="%",
            ),
            "recovery_chart": charts.bar_chart(
                "recovery-chart",
                "Material recovery rate, with the target in force",
                "One bar per material: recovered mass over the estimated content of the batteries received; "
                "the black mark is the target in force.",
                charts.recovery_bars(recovery["materials"]),
                scale_max=100,
                axis_unit="%",
            ),
        }

    return await _render(request, "targets", "Collection and recovery against the EU targets", build)


def _meets(value: bool | None) -> str:
    return "no target" if value is None else ("yes" if value else "below target")


@router.get("/battery")
async def battery_page(request: Request) -> Response:
    serial = request.query_params.get("serial", "").strip()

    async def build(holder: KeyHolder) -> dict:
        context: dict[str, Any] = {"serial": serial, "battery": None, "passport": None, "error": None}
        if not serial:
            return context
        if not SERIAL.fullmatch(serial):
            return {
                **context,
                "status": 400,
                "error": "A serial is 1 to 64 letters, digits or . _ : - (nothing else).",
            }
        try:
            context["battery"] = await console.battery(gateway_of(request).read_models, holder, serial)
            context["passport"] = await console.passport(gateway_of(request).read_models, holder, serial)
        except NotFound:
            return {
                **context,
                "status": 404,
                "error": f"No battery with serial {serial} is known to the scheme.",
            }
        return context

    return await _render(request, "battery", "Battery and its custody chain", build)
