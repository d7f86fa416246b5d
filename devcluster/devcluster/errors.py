"""The one error type the command line turns into a one-line message and exit code 1."""


class DevclusterError(Exception):
    """A failure to report to the user in one line (exit 1)."""


class UsageError(DevclusterError):
    """Bad input from the user (exit 2)."""
