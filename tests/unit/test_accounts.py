"""The ledger's account names are spelled once, in `contracts.accounts`: every service uses it."""

from __future__ import annotations

import re

import pytest

from contracts import accounts
from tests.unit import test_architecture as architecture
from tests.unit.test_architecture import string_literals

# Any account of contract sections 5 and 8.1, or a counterparty prefix, inside a literal.
ACCOUNT_NAME = re.compile(
    "|".join(re.escape(name) for name in (*accounts.SCHEME_ACCOUNTS, *accounts.COUNTERPARTY_PREFIXES))
)
FOLDERS = ("streams", "services")


def spelled_out(folder) -> list[str]:
    return [
        f"{path.relative_to(architecture.ROOT)}:{line}: {text.strip()[:60]!r}"
        for path in sorted(folder.rglob("*.py"))
        for line, text in string_literals(path)
        if ACCOUNT_NAME.search(text)
    ]


@pytest.mark.parametrize("folder", FOLDERS)
def test_no_account_name_is_spelled_outside_the_accounts_module(folder):
    assert spelled_out(architecture.ROOT / folder) == []


def test_a_spelled_out_account_is_found(tmp_path, monkeypatch):
    domain = tmp_path / "streams" / "domain"
    domain.mkdir(parents=True)
    (domain / "bad.py").write_text(
        '"""Credits fund:recycling (a docstring may name it)."""\n'
        'FUND = "fund:recycling"\n'
        "def store(store_id):\n"
        '    return f"clearing:store:{store_id}"\n'
        "SQL = \"SELECT 1 WHERE account LIKE 'payable:recycler:%'\"\n"
    )
    monkeypatch.setattr(architecture, "ROOT", tmp_path)
    assert [found.split(": ")[0] for found in spelled_out(tmp_path / "streams")] == [
        "streams/domain/bad.py:2",
        "streams/domain/bad.py:4",
        "streams/domain/bad.py:5",
    ]


def test_the_names_are_the_contracts():
    """Contract sections 5 and 8.1, as finance integrates against them."""
    assert accounts.store_clearing("s-1") == "clearing:store:s-1"
    assert accounts.store_suspense("s-1") == "suspense:store:s-1"
    assert accounts.centre_clearing("c-1") == "clearing:centre:c-1"
    assert accounts.recycler_payable("r-1") == "payable:recycler:r-1"
    assert accounts.SCHEME_ACCOUNTS == (
        "liability:deposits",
        "fund:recycling",
        "bank:scheme",
        "reserve:unclaimed_deposits",
    )
    assert [accounts.payment_account(kind, "x") for kind in ("store", "centre", "recycler")] == [
        "clearing:store:x",
        "clearing:centre:x",
        "payable:recycler:x",
    ]
    assert accounts.sql_like(accounts.CENTRE_CLEARING) == "clearing:centre:%"
