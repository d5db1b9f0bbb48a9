"""Closed vocabularies of the contract, as `Literal` types (strict-mode safe)."""

from typing import Literal

SourceKind = Literal["pos", "return_centre", "transporter", "recycler", "finance"]
PartyKind = Literal["pos", "return_centre", "transporter", "recycler", "finance", "customer"]
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
