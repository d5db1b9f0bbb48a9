"""Every event type in and its handler: the section 3 handlers and the additions of contract 8."""

from __future__ import annotations

from streams.service_layer import closing, handlers, payments

HANDLERS = {**handlers.HANDLERS, **payments.HANDLERS, **closing.HANDLERS}
