"""The finance console without a stack: its session tokens, CSRF, figures, charts, and its login over the app
(in-memory keys, a reconciliation given by the test)."""

from __future__ import annotations

import re
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from services.common.settings import Settings
from services.gateway.adapters.event_publisher import RecordingEventPublisher
from services.gateway.adapters.key_repository import InMemoryKeyRepository
from services.gateway.bootstrap import build_gateway
from services.gateway.domain.console_session import SESSION_MAX_S, SessionSigner
from services.gateway.domain.keys import default_role, issue_key, parse_presented
from services.gateway.entrypoints.app import create_app
from services.gateway.entrypoints.console import charts
from services.gateway.entrypoints.console.formatting import figure, money, percent, target

SECRET = bytes(range(32))
NOW = 1_800_000_000
RECONCILIATION = {
    "status": "discrepancies",
    "as_of": "2026-11-30T10:00:00+00:00",
    "run_id": None,
    "checks": [
        {
            "name": "trial_balance_zero",
            "ok": True,
            "expected": {"EUR": 0},
            "actual": {"EUR": 0},
            "details": {},
        },
        {
            "name": "deposit_liability",
            "ok": False,
            "expected": {"EUR": 1250000},
            "actual": {"EUR": 1245000},
            "details": {"difference": {"EUR": 5000}},
        },
    ],
    "open_discrepancies": [],
}


# -- the session token -------------------------------------------------------------------
def test_a_token_names_its_key_and_nothing_else_and_reads_back():
    signer = SessionSigner(SECRET)
    token, session = signer.issue("0123456789abcdef", NOW)
    assert signer.read(token, NOW + 1) == session
    assert session.expires_at == NOW + SESSION_MAX_S
    assert "tbk_" not in token


@pytest.mark.parametrize(
    "change",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # the MAC altered
        lambda t: t.replace(t.split(".")[1], t.split(".")[1][::-1]),  # the payload altered
        lambda t: "v2" + t[2:],  # another version
        lambda t: t + ".x",
        lambda t: "",
        lambda t: "a" * 600,
    ],
)
def test_a_token_altered_in_any_way_is_no_session(change):
    signer = SessionSigner(SECRET)
    token, _ = signer.issue("0123456789abcdef", NOW)
    assert signer.read(change(token), NOW) is None


def test_a_token_expires_and_another_secret_does_not_read_it():
    token, _ = SessionSigner(SECRET).issue("0123456789abcdef", NOW)
    assert SessionSigner(SECRET).read(token, NOW + SESSION_MAX_S) is None
    assert SessionSigner(SECRET).read(token, NOW - 1) is None
    assert SessionSigner(bytes(32)).read(token, NOW) is None


def test_csrf_tokens_are_bound_to_their_session_or_login_nonce():
    signer = SessionSigner(SECRET)
    _, one = signer.issue("0123456789abcdef", NOW)
    _, other = signer.issue("0123456789abcdef", NOW)
    assert signer.check_session_csrf(one, signer.csrf_for_session(one))
    assert not signer.check_session_csrf(one, signer.csrf_for_session(other))
    assert not signer.check_session_csrf(one, None)
    nonce = "n" * 32
    assert signer.check_login_csrf(nonce, signer.csrf_for_login(nonce))
    assert not signer.check_login_csrf("m" * 32, signer.csrf_for_login(nonce))
    assert not signer.check_login_csrf(None, signer.csrf_for_login(nonce))


# -- figures -----------------------------------------------------------------------------
def test_money_is_written_with_its_currency_in_major_units():
    assert money(1250000, "EUR") == "12,500.00 EUR"
    assert money(-5, "EUR") == "-0.05 EUR"
    assert money(1500, "JPY") == "1,500 JPY"
    assert money(1234, "KWD") == "1.234 KWD"
    assert money(None, "EUR") == "—"


def test_rates_targets_and_check_values_are_readable_never_a_repr():
    assert percent("51.5") == "51.50 %"
    assert target({"percent": 63, "by_end_of": 2027, "legal_basis": "x"}) == "63 % by end 2027"
    assert figure({"EUR": 1250000, "GBP": 5}) == "12,500.00 EUR; 0.05 GBP"
    assert figure({"count": 0, "items": []}) == "count: 0; items: —"
    assert "{" not in figure([{"event_type": "sale.recorded", "events": 3}])


def test_a_chart_escapes_its_labels_and_hatches_a_bar_below_target():
    svg = charts.bar_chart(
        "c",
        "T <x>",
        "D",
        [charts.Bar("<script>", 30.0, "30.00 %", target=45.0, target_text="45 % by end 2023", meets=False)],
        scale_max=100,
        axis_unit="%",
    )
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert 'fill="url(#c-hatch)"' in svg and '<pattern id="c-hatch"' in svg and 'role="img"' in svg
    assert "45 % by end 2023</title></line>" in svg


# -- the app: login, session, logout -----------------------------------------------------
@pytest.fixture
def console(tmp_path):
    repository = InMemoryKeyRepository()

    async def reconcile() -> dict:
        return {**RECONCILIATION, "as_of": datetime.now(UTC).isoformat()}

    def app():
        @asynccontextmanager
        async def fake_gateway(settings):
            gateway = build_gateway(
                settings, publisher=RecordingEventPublisher(), key_repository=repository, reconcile=reconcile
            )
            gateway.ready = True
            yield gateway

        return create_app(Settings(state_dir=tmp_path), fake_gateway)

    with TestClient(app()) as client:
        yield client, repository, app


def key(repository: InMemoryKeyRepository, kind: str, source_id: str) -> str:
    plaintext, stored = issue_key(kind, source_id, default_role(kind))
    repository.keys[stored.key_id] = stored
    return plaintext


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def sign_in(client: TestClient, presented: str, next_path: str = "/console/reconciliation"):
    form = client.get("/console/login")
    assert form.status_code == 200
    return client.post(
        "/console/login",
        data={"key": presented, "csrf": csrf_of(form.text), "next": next_path},
        follow_redirects=False,
    )


def test_every_page_without_a_session_leads_to_the_login_and_shows_no_figure(console):
    client, _, _ = console
    for page in (
        "",
        "/reconciliation",
        "/balances",
        "/settlement",
        "/discrepancies",
        "/liability",
        "/fund",
        "/targets",
        "/battery?serial=BAT-1",
    ):
        response = client.get(f"/console{page}")
        assert response.status_code == 200 and response.url.path == "/console/login", page
        assert 'id="key"' in response.text and "trial_balance_zero" not in response.text


def test_a_finance_key_signs_in_once_and_the_cookie_holds_no_key(console):
    client, repository, _ = console
    presented = key(repository, "finance", "finance")
    response = sign_in(client, presented)
    assert (response.status_code, response.headers["location"]) == (303, "/console/reconciliation")
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("takeback_console="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie
    assert "Secure" not in cookie  # plain http here; over https the cookie is Secure
    assert parse_presented(presented)[1] not in cookie and presented not in cookie  # the secret may hold "_"
    page = client.get("/console/reconciliation")
    assert page.status_code == 200
    assert "deposit_liability" in page.text and "12,500.00 EUR" in page.text and "12,450.00 EUR" in page.text
    assert (
        page.headers["cache-control"] == "no-store"
        and "default-src 'none'" in page.headers["content-security-policy"]
    )


def test_a_producer_key_is_refused_at_login_with_a_clear_message(console):
    client, repository, _ = console
    response = sign_in(client, key(repository, "pos", "store-1"))
    assert response.status_code == 403
    assert "not a finance key" in response.text and "--kind finance" in response.text
    assert "takeback_console=" not in " ".join(response.headers.get_list("set-cookie"))
    assert client.get("/console/balances").url.path == "/console/login"


def test_a_bad_key_or_a_form_without_its_csrf_token_signs_nobody_in(console):
    client, repository, _ = console
    assert sign_in(client, "tbk_0123456789abcdef_" + "x" * 43).status_code == 401
    presented = key(repository, "finance", "finance")
    client.get("/console/login")
    no_token = client.post(
        "/console/login",
        data={"key": presented, "csrf": "forged", "next": "/console"},
        follow_redirects=False,
    )
    assert no_token.status_code == 400
    form = client.get("/console/login")
    elsewhere = client.post(
        "/console/login",
        data={"key": presented, "csrf": csrf_of(form.text)},
        headers={"Origin": "http://evil.example"},
        follow_redirects=False,
    )
    assert elsewhere.status_code == 400
    assert client.get("/console/balances").url.path == "/console/login"


def test_a_session_is_valid_in_another_gateway_process_and_ends_with_its_key(console):
    client, repository, app = console
    presented = key(repository, "finance", "finance")
    sign_in(client, presented)
    with TestClient(app()) as other:  # another process of the gateway: the same secret, from the state folder
        other.cookies.set("takeback_console", client.cookies.get("takeback_console"), path="/console")
        assert other.get("/console/reconciliation", follow_redirects=False).status_code == 200
    key_id = presented.split("_")[1]
    repository.keys[key_id] = repository.keys[key_id].__class__(
        **{**repository.keys[key_id].__dict__, "revoked_at": datetime.now(UTC)}
    )
    assert client.get("/console/reconciliation").url.path == "/console/login"


def test_logout_needs_its_csrf_token_and_then_ends_the_session(console):
    client, repository, _ = console
    sign_in(client, key(repository, "finance", "finance"))
    page = client.get("/console/reconciliation")
    assert client.post("/console/logout", data={"csrf": "forged"}, follow_redirects=False).status_code == 400
    assert client.get("/console/reconciliation").status_code == 200
    out = client.post("/console/logout", data={"csrf": csrf_of(page.text)}, follow_redirects=False)
    assert (out.status_code, out.headers["location"]) == (303, "/console/login?signed_out=1")
    assert client.get("/console/reconciliation").url.path == "/console/login"


def test_the_console_is_not_part_of_the_api_document(console):
    client, _, _ = console
    assert not [path for path in client.get("/openapi.json").json()["paths"] if path.startswith("/console")]
