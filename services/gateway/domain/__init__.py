"""Pure rules of the gateway: API keys, and what the holder of one may do."""
