"""PostgreSQL notification channels shared by the services.

`INBOX_CHANNEL`: the streams' batch transaction notifies it (empty payload) when it
commits outcomes to `scheme.inbox`; a gateway with requests waiting (`Prefer: wait`)
then reads the outcomes of all its waiting events in one query.
"""

from __future__ import annotations

INBOX_CHANNEL = "takeback_inbox"
