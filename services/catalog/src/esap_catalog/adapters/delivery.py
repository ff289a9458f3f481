"""What a delivery of a notification may end in: delivered (returns), failed for now (``DeliveryError``, tried
again later) or refused for good (``RefusedError``: a destination this deployment does not allow, or no way to
send at all). Depends on nothing."""


class DeliveryError(Exception):
    """This attempt failed; a later one may succeed. The message is shown to the job's owner."""


class RefusedError(DeliveryError):
    """The notification cannot be delivered (not now, not later): it is recorded as failed at once."""
