"""The one exception type a user sees as a sentence instead of a traceback."""


class UserError(Exception):
    """A problem the user can fix: ``str(error)`` is one line naming the thing and the fix.

    Operators report it, the headless command prints it and exits non-zero; any other
    exception is a bug and keeps its traceback.
    """
