"""The wire contract of Takeback (spec/contract.md): topics, event models, schemas.

Start with `contracts.topics` for names and `contracts.events` for parsing.
"""
