"""What reconciliation reads, one module per family of checks (the checks: `service_layer/reconciliation/`).

Every function reads inside the run's one repeatable-read transaction; a full run's reads cover the whole
journal and scheme, `window_figures` reads what an incremental run's window holds.
"""
