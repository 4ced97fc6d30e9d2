"""The one exception type that reaches users as a one-line message."""


class UserError(Exception):
    """A mistake the user can fix; printed as one line, exit status 2 unless set."""

    def __init__(self, message: str, exit_code: int = 2):
        super().__init__(message)
        self.exit_code = exit_code
