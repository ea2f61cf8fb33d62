"""Errors the user can fix. The CLI turns them into one line and exit code 2; the app into a message."""


class LepInputError(ValueError):
    """Bad input: the message names the problem and what to do next."""


class LepJobError(RuntimeError):
    """A long job failed for a reason worth showing the user (NaN loss, out of memory, ...)."""
