"""Errors whose message is meant for the user (UI shows it as gr.Error, the CLI prints it)."""


class UserError(ValueError):
    """Bad input or parameters: the message says what is wrong and how to fix it."""
