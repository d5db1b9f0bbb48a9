"""Topic names and the routing facts of the contract table (section 1)."""

SALES = "takeback.sales"
COLLECTIONS = "takeback.collections"
CUSTODY = "takeback.custody"
LOTS = "takeback.lots"
RECOVERIES = "takeback.recoveries"
TERMS = "takeback.terms"
FINANCE = "takeback.finance"  # contract 8.1: finance's instructions (payments, releases, resolutions)
REFUNDS = "takeback.refunds"
LEDGER = "takeback.ledger"
REJECTIONS = "takeback.rejections"
DISCREPANCIES = "takeback.discrepancies"
POSTINGS = "takeback.internal.postings"  # internal: scheme -> ledger posting requests
RECONCILIATIONS = "takeback.reconciliations"  # the ledger (out): reconciliation.completed
ROUTING = "takeback.routing"  # the scheme (out), contract 8.3: battery.routed after each collection

INPUT_TOPICS = (SALES, COLLECTIONS, CUSTODY, LOTS, RECOVERIES, TERMS, FINANCE)
OUTPUT_TOPICS = (REFUNDS, LEDGER, REJECTIONS, DISCREPANCIES, RECONCILIATIONS, ROUTING)
INTERNAL_TOPICS = (POSTINGS,)

SALE_RECORDED = "sale.recorded"
SALE_CANCELLED = "sale.cancelled"
COLLECTION_LOGGED = "collection.logged"
CUSTODY_TRANSFERRED = "custody.transferred"
LOT_DISPATCHED = "lot.dispatched"
LOT_RECEIVED = "lot.received"
RECOVERY_CONFIRMED = "recovery.confirmed"
TERMS_PUBLISHED = "terms.published"
PAYMENT_RECORDED = "payment.recorded"
DEPOSITS_RELEASED = "deposits.released"
DISCREPANCY_RESOLVED = "discrepancy.resolved"  # in: finance resolves a discrepancy
BATTERY_REPURPOSED = "battery.repurposed"  # contract 8.3: a second-life operator repurposed a battery
REFUND_INSTRUCTED = "refund.instructed"
ENTRY_POSTED = "entry.posted"
EVENT_REJECTED = "event.rejected"
DISCREPANCY_OPENED = "discrepancy.opened"
RECONCILIATION_COMPLETED = "reconciliation.completed"
BATTERY_ROUTED = "battery.routed"  # contract 8.3: where a collected battery goes next
# Out: the scheme says a discrepancy was resolved. Its wire `type` is `discrepancy.resolved`, as the event in
# that caused it; the catalogue below names each message once, so this one has its own name (`wire_type`).
DISCREPANCY_RESOLVED_OUT = "discrepancy.resolved.out"

IN_EVENT_TYPES = (
    SALE_RECORDED,
    SALE_CANCELLED,
    COLLECTION_LOGGED,
    CUSTODY_TRANSFERRED,
    LOT_DISPATCHED,
    LOT_RECEIVED,
    RECOVERY_CONFIRMED,
    TERMS_PUBLISHED,
    PAYMENT_RECORDED,
    DEPOSITS_RELEASED,
    DISCREPANCY_RESOLVED,
    BATTERY_REPURPOSED,
)
OUT_EVENT_TYPES = (
    REFUND_INSTRUCTED,
    ENTRY_POSTED,
    EVENT_REJECTED,
    DISCREPANCY_OPENED,
    RECONCILIATION_COMPLETED,
    DISCREPANCY_RESOLVED_OUT,
    BATTERY_ROUTED,
)
EVENT_TYPES = IN_EVENT_TYPES + OUT_EVENT_TYPES  # the catalogue: message names

# The wire `type` of a message whose catalogue name differs from it; every other name is its own type.
WIRE_TYPE_OF_MESSAGE: dict[str, str] = {DISCREPANCY_RESOLVED_OUT: DISCREPANCY_RESOLVED}
_OUT_MESSAGE_OF_WIRE_TYPE = {wire: name for name, wire in WIRE_TYPE_OF_MESSAGE.items()}
SCHEME_SOURCE_KIND = "scheme"


def wire_type(message: str) -> str:
    """The `type` an event of this catalogue name carries on the wire."""
    return WIRE_TYPE_OF_MESSAGE.get(message, message)


def message_name(event_type: str, source_kind: str | None) -> str:
    """The catalogue name of an event of this wire type: an event out (source `scheme`) may have its own."""
    if source_kind == SCHEME_SOURCE_KIND:
        return _OUT_MESSAGE_OF_WIRE_TYPE.get(event_type, event_type)
    return event_type


TOPIC_OF_TYPE: dict[str, str] = {
    SALE_RECORDED: SALES,
    SALE_CANCELLED: SALES,
    COLLECTION_LOGGED: COLLECTIONS,
    CUSTODY_TRANSFERRED: CUSTODY,
    LOT_DISPATCHED: LOTS,
    LOT_RECEIVED: LOTS,
    RECOVERY_CONFIRMED: RECOVERIES,
    TERMS_PUBLISHED: TERMS,
    PAYMENT_RECORDED: FINANCE,
    DEPOSITS_RELEASED: FINANCE,
    DISCREPANCY_RESOLVED: FINANCE,
    BATTERY_REPURPOSED: CUSTODY,
    REFUND_INSTRUCTED: REFUNDS,
    ENTRY_POSTED: LEDGER,
    EVENT_REJECTED: REJECTIONS,
    DISCREPANCY_OPENED: DISCREPANCIES,
    RECONCILIATION_COMPLETED: RECONCILIATIONS,
    DISCREPANCY_RESOLVED_OUT: DISCREPANCIES,
    BATTERY_ROUTED: ROUTING,
}

# The field of `data` whose value is the Kafka message key. An event.rejected
# travels under the key of the event it rejects, so it has no key field; a
# reconciliation.completed has none either: its key is fixed (FIXED_KEY_OF_TYPE).
KEY_FIELD_OF_TYPE: dict[str, str | None] = {
    SALE_RECORDED: "sale_id",
    SALE_CANCELLED: "sale_id",
    COLLECTION_LOGGED: "serial",
    CUSTODY_TRANSFERRED: "serial",
    LOT_DISPATCHED: "lot_id",
    LOT_RECEIVED: "lot_id",
    RECOVERY_CONFIRMED: "lot_id",
    TERMS_PUBLISHED: "sku",
    PAYMENT_RECORDED: "payment_id",
    DEPOSITS_RELEASED: "currency",
    DISCREPANCY_RESOLVED: "discrepancy_id",
    BATTERY_REPURPOSED: "serial",
    REFUND_INSTRUCTED: "serial",
    ENTRY_POSTED: "entry_id",
    EVENT_REJECTED: None,
    DISCREPANCY_OPENED: "subject",
    RECONCILIATION_COMPLETED: None,  # always FIXED_KEY_OF_TYPE's "ledger"
    DISCREPANCY_RESOLVED_OUT: "discrepancy_id",
    BATTERY_ROUTED: "serial",
}

# The Kafka message key of the types sent under one constant key. The ledger
# sends every reconciliation run under "ledger", so consumers read the runs in
# the order they happened (one partition).
FIXED_KEY_OF_TYPE: dict[str, str] = {
    RECONCILIATION_COMPLETED: "ledger",
}

SOURCE_KINDS = ("pos", "return_centre", "transporter", "recycler", "finance", "second_life")

SOURCE_KINDS_OF_TYPE: dict[str, tuple[str, ...]] = {
    SALE_RECORDED: ("pos",),
    SALE_CANCELLED: ("pos",),
    COLLECTION_LOGGED: ("return_centre",),
    CUSTODY_TRANSFERRED: SOURCE_KINDS,
    LOT_DISPATCHED: ("return_centre",),
    LOT_RECEIVED: ("recycler",),
    RECOVERY_CONFIRMED: ("recycler",),
    TERMS_PUBLISHED: ("finance",),
    PAYMENT_RECORDED: ("finance",),
    DEPOSITS_RELEASED: ("finance",),
    DISCREPANCY_RESOLVED: ("finance",),
    BATTERY_REPURPOSED: ("second_life",),
    **{event_type: (SCHEME_SOURCE_KIND,) for event_type in OUT_EVENT_TYPES},
}

# The field of `data` that must equal `source.id`, if any.
SOURCE_ID_FIELD_OF_TYPE: dict[str, str | None] = {
    SALE_RECORDED: "store_id",
    SALE_CANCELLED: "store_id",
    COLLECTION_LOGGED: "centre_id",
    CUSTODY_TRANSFERRED: None,
    LOT_DISPATCHED: "centre_id",
    LOT_RECEIVED: "recycler_id",
    RECOVERY_CONFIRMED: "recycler_id",
    TERMS_PUBLISHED: None,
    PAYMENT_RECORDED: None,
    DEPOSITS_RELEASED: None,
    DISCREPANCY_RESOLVED: None,
    BATTERY_REPURPOSED: "operator_id",
    **{event_type: None for event_type in OUT_EVENT_TYPES},
}
