"""The finance console: server-rendered HTML pages at `/console` for finance keys (login, session, charts)."""
