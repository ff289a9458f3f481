"""Why a request is refused, in the gateway's own terms; the HTTP layer maps each to a status code.

Must not depend on anything: every layer may import it.
"""


class InvalidRequestError(Exception):
    """A parameter is missing or has a bad value (400). ``field`` names it."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class UnsupportedMediaTypeError(Exception):
    """The request body is in a format this resource does not read (415)."""


class NotFoundError(Exception):
    """No such job or result, or not one this caller may see (404)."""


class NotAllowedError(Exception):
    """The action is not allowed in the job's phase, or for this caller (403)."""


class UnauthenticatedError(Exception):
    """No usable credentials were sent (401)."""


class InvalidReportError(Exception):
    """A job's callback report does not match the contract (422)."""


class RateLimitedError(Exception):
    """The caller made more state-changing requests than its rate allows (429); ``retry_after`` in seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"Too many requests: at most the configured number of changes a minute; try again in "
                         f"{retry_after} s.")
        self.retry_after = retry_after
