"""The one exception type for bad user input.

Raise `UserError` for anything the user can fix (a missing file, a malformed line under `--strict`,
an unknown model name). The CLI catches it once and prints its message as a single line with exit
status 2; everything else is a bug and keeps its traceback.
"""


class UserError(Exception):
    """Bad input from the user: reported as one line, exit status 2, no traceback."""
