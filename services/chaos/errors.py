"""The one error a chaos run reports as a sentence (the command prints it on one line, exit 1)."""


class ChaosError(RuntimeError):
    """The run could not go on: the message says what and why."""
