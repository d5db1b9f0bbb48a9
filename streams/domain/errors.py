"""Business refusals: one exception a reason code of the contract (section 3)."""

from __future__ import annotations


class Rejected(Exception):
    """The event is refused as a whole and changes nothing."""

    reason = "rejected"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class UnknownSale(Rejected):
    reason = "unknown_sale"


class DuplicateSale(Rejected):
    reason = "duplicate_sale"  # addition to the contract: a sale id recorded twice with other content


class SerialNotInSale(Rejected):
    reason = "serial_not_in_sale"


class AlreadyReturned(Rejected):
    reason = "already_returned"


class UnknownBattery(Rejected):
    reason = "unknown_battery"


class CustodyMismatch(Rejected):
    reason = "custody_mismatch"


class DuplicateLot(Rejected):
    reason = "duplicate_lot"


class UnknownLot(Rejected):
    reason = "unknown_lot"


class LotAlreadyReceived(Rejected):
    reason = "lot_already_received"


class LotNotReceived(Rejected):
    reason = "lot_not_received"


class RecoveryAlreadyConfirmed(Rejected):
    reason = "recovery_already_confirmed"


class SourceMismatch(Rejected):
    reason = "source_mismatch"


class NotSupported(Rejected):
    reason = "not_supported"  # an event of the catalogue this version of the scheme does not apply yet


class DuplicatePayment(Rejected):
    reason = "duplicate_payment"  # contract 8.1: a payment_id already used by another event


class DuplicateRelease(Rejected):
    reason = "duplicate_release"  # contract 8.1: a release_id already used by another event


class UnknownDiscrepancy(Rejected):
    reason = "unknown_discrepancy"


class AlreadyResolved(Rejected):
    reason = "already_resolved"


class ResolutionNotAllowed(Rejected):
    reason = "resolution_not_allowed"
