"""Processes of the ledger: `python -m services.ledger.entrypoints.worker`."""
