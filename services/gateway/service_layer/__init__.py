"""Use cases of the gateway: accept an event, verify and manage keys, read the books."""
