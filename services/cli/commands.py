"""Commands beyond the stack's lifecycle; each module registers itself on `app`."""
