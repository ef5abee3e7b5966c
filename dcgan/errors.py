"""The one error policy: every error meant for the user is a UserError, whose message says in
one line what is wrong and what to do. Each command runs under one wrapper
(interrupts.run) that ends it with that line, `error: ...`, and exit status 1 (Ctrl-C: its
own line and 130); a traceback means a bug, never a user's mistake.

Importing this imports nothing: every part can raise these before MXNet loads.
"""


class UserError(Exception):
    """Something the user can fix; the message says what, in one line."""


class SetupError(UserError):
    """A request that cannot be met as asked (flags, output folder, data size, memory)."""
