"""Topic names and the routing facts of the contract table (section 1)."""

SALES = "takeback.sales"
COLLECTIONS = "takeback.collections"
CUSTODY = "takeback.custody"
LOTS = "takeback.lots"
RECOVERIES = "takeback.recoveries"
TERMS = "takeback.terms"
REFUNDS = "takeback.refunds"
LEDGER = "takeback.ledger"
REJECTIONS = "takeback.rejections"
DISCREPANCIES = "takeback.discrepancies"
POSTINGS = "takeback.internal.postings"  # internal: scheme -> ledger posting requests
RECONCILIATIONS = "takeback.reconciliations"  # the ledger (out): reconciliation.completed

INPUT_TOPICS = (SALES, COLLECTIONS, CUSTODY, LOTS, RECOVERIES, TERMS)
OUTPUT_TOPICS = (REFUNDS, LEDGER, REJECTIONS, DISCREPANCIES, RECONCILIATIONS)
INTERNAL_TOPICS = (POSTINGS,)

SALE_RECORDED = "sale.recorded"
SALE_CANCELLED = "sale.cancelled"
COLLECTION_LOGGED = "collection.logged"
CUSTODY_TRANSFERRED = "custody.transferred"
LOT_DISPATCHED = "lot.dispatched"
LOT_RECEIVED = "lot.received"
RECOVERY_CONFIRMED = "recovery.confirmed"
TERMS_PUBLISHED = "terms.published"
REFUND_INSTRUCTED = "refund.instructed"
ENTRY_POSTED = "entry.posted"
EVENT_REJECTED = "event.rejected"
DISCREPANCY_OPENED = "discrepancy.opened"
RECONCILIATION_COMPLETED = "reconciliation.completed"

IN_EVENT_TYPES = (
    SALE_RECORDED, SALE_CANCELLED, COLLECTION_LOGGED, CUSTODY_TRANSFERRED,
    LOT_DISPATCHED, LOT_RECEIVED, RECOVERY_CONFIRMED, TERMS_PUBLISHED,
)
OUT_EVENT_TYPES = (REFUND_INSTRUCTED, ENTRY_POSTED, EVENT_REJECTED, DISCREPANCY_OPENED, RECONCILIATION_COMPLETED)
EVENT_TYPES = IN_EVENT_TYPES + OUT_EVENT_TYPES

TOPIC_OF_TYPE: dict[str, str] = {
    SALE_RECORDED: SALES,
    SALE_CANCELLED: SALES,
    COLLECTION_LOGGED: COLLECTIONS,
    CUSTODY_TRANSFERRED: CUSTODY,
    LOT_DISPATCHED: LOTS,
    LOT_RECEIVED: LOTS,
    RECOVERY_CONFIRMED: RECOVERIES,
    TERMS_PUBLISHED: TERMS,
    REFUND_INSTRUCTED: REFUNDS,
    ENTRY_POSTED: LEDGER,
    EVENT_REJECTED: REJECTIONS,
    DISCREPANCY_OPENED: DISCREPANCIES,
    RECONCILIATION_COMPLETED: RECONCILIATIONS,
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
    REFUND_INSTRUCTED: "serial",
    ENTRY_POSTED: "entry_id",
    EVENT_REJECTED: None,
    DISCREPANCY_OPENED: "subject",
    RECONCILIATION_COMPLETED: None,  # always FIXED_KEY_OF_TYPE's "ledger"
}

# The Kafka message key of the types sent under one constant key. The ledger
# sends every reconciliation run under "ledger", so consumers read the runs in
# the order they happened (one partition).
FIXED_KEY_OF_TYPE: dict[str, str] = {
    RECONCILIATION_COMPLETED: "ledger",
}

SOURCE_KINDS = ("pos", "return_centre", "transporter", "recycler", "finance")
SCHEME_SOURCE_KIND = "scheme"

SOURCE_KINDS_OF_TYPE: dict[str, tuple[str, ...]] = {
    SALE_RECORDED: ("pos",),
    SALE_CANCELLED: ("pos",),
    COLLECTION_LOGGED: ("return_centre",),
    CUSTODY_TRANSFERRED: SOURCE_KINDS,
    LOT_DISPATCHED: ("return_centre",),
    LOT_RECEIVED: ("recycler",),
    RECOVERY_CONFIRMED: ("recycler",),
    TERMS_PUBLISHED: ("finance",),
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
    **{event_type: None for event_type in OUT_EVENT_TYPES},
}
