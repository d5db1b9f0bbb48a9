"""payment.recorded (contract 8.1): money that moved between the scheme's bank account and a counterparty.

Posted in full, always (money that moved is never dropped). The part above what
the counterparty owed in that currency at that moment (its account's balance as
the scheme posted it, this batch's earlier postings included) opens an
`overpayment` with the excess. A payment id is used by one event only.
"""

from __future__ import annotations

from contracts import events as ev
from streams.domain import payment as payment_
from streams.domain import postings
from streams.domain.payment import Payment
from streams.service_layer.handlers import open_discrepancy, post
from streams.service_layer.state import BatchState


def payment_recorded(state: BatchState, event: ev.PaymentRecordedEvent) -> None:
    data = event.data
    Payment.check_new(data.payment_id, event.event_id, state.payments_recorded.get(data.payment_id))
    kind, counterparty_id = data.counterparty.kind, data.counterparty.id
    account = payment_.account_of(kind, counterparty_id)
    balance = state.counterparty_debit_net(account, data.currency)
    owed, excess = payment_.owed(kind, balance), payment_.excess(kind, balance, data.amount)
    state.payments_recorded[data.payment_id] = event.event_id
    state.new_payments.append(
        Payment(
            data.payment_id,
            event.event_id,
            kind,
            counterparty_id,
            data.amount,
            data.currency,
            data.value_date,
            data.reference,
            excess,
            event.occurred_at,
        )
    )
    post(
        state,
        postings.payment(
            data.payment_id,
            kind,
            counterparty_id,
            data.amount,
            data.currency,
            event.event_id,
            event.occurred_at,
        ),
    )
    if excess:
        open_discrepancy(
            state,
            "overpayment",
            data.payment_id,
            {
                "payment_id": data.payment_id,
                "counterparty": {"kind": kind, "id": counterparty_id},
                "currency": data.currency,
                "amount": data.amount,
                "owed": max(0, owed),
                "excess": excess,
            },
            event.event_id,
        )


HANDLERS = {"payment.recorded": payment_recorded}
