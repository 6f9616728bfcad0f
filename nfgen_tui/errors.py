"""One exception type for mistakes a user can fix.

The CLI turns a `UserError` into one line on stderr and exit code 2; anything else is a bug (exit 1, traceback).
"""


class UserError(Exception):
    """A bad input, config value, dataset, run name or file: the message says what and how to fix it."""
