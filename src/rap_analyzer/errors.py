"""Errors a user fixes by changing configuration; their message says what was wrong and what to set."""


class UserError(RuntimeError):
    pass
