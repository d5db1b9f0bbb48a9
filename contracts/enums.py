"""Closed vocabularies of the contract, as `Literal` types (strict-mode safe)."""

from typing import Literal

# `second_life` (contract 8.3): an operator that gives a collected battery a second life.
SourceKind = Literal["pos", "return_centre", "transporter", "recycler", "finance", "second_life"]
PartyKind = Literal["pos", "return_centre", "transporter", "recycler", "finance", "second_life", "customer"]
Category = Literal["portable", "lmt", "sli", "industrial", "ev"]
Chemistry = Literal[
    "li-ion-nmc", "li-ion-lfp", "li-ion-nca", "li-ion-lco", "lead-acid", "nimh", "nicd", "other"
]
ContractKind = Literal["deposit", "lease"]
Condition = Literal["functional", "damaged", "defective", "hazardous"]
RefundMethod = Literal["cash", "card", "bank_transfer", "voucher"]
CustodyReason = Literal["transport", "storage", "repair", "second_life", "recycling_intake"]
Material = Literal[
    "lithium", "cobalt", "nickel", "copper", "lead", "manganese", "aluminium", "iron", "graphite", "other"
]
CounterpartyKind = Literal[
    "store", "centre", "recycler"
]  # contract 8.1: who paid the scheme, or whom it paid
Resolution = Literal["returned_to_store", "written_off", "accepted"]
Application = Literal[
    "stationary_storage", "vehicle", "other"
]  # contract 8.3: what a battery is repurposed into
Route = Literal[
    "reuse", "repurpose", "recycle", "inspect"
]  # contract 8.3: where a collected battery goes next
