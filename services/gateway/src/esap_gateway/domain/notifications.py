"""NOTIFY targets as the gateway accepts them: parsed and checked before anything is published, by the rules of
``esap_messages.notify`` (the catalog checks webhooks again at delivery) and this deployment's policy: only a caller
with an identity may name targets (webhooks are signed with the owner's secret), webhooks only to the allowed URL
prefixes, and e-mail only to the caller's own address (their token's ``email`` claim) unless ``mail_anyone``.
Must not depend on anything but esap_messages and the domain's errors.
"""

from collections.abc import Sequence

from esap_gateway.domain.errors import InvalidRequestError
from esap_messages.notify import MAX_TARGETS, InvalidTargetError, TargetKind, check_webhook, parse_target

FIELD = "NOTIFY"


def checked_targets(texts: Sequence[str], *, owner: str | None, email: str | None, allowed: Sequence[str],
                    mail_anyone: bool) -> list[str]:
    """The targets, normalised and without repeats; InvalidRequestError (400) naming the first refused."""
    wanted = [t.strip() for t in texts if t.strip()]
    if not wanted:
        return []
    if owner is None:
        raise InvalidRequestError(FIELD, "notifications need an identity: send a bearer token")
    if len(dict.fromkeys(wanted)) > MAX_TARGETS:
        raise InvalidRequestError(FIELD, f"at most {MAX_TARGETS} targets")
    found = []
    for text in dict.fromkeys(wanted):
        try:
            target = parse_target(text)
            if target.kind is TargetKind.WEBHOOK:
                check_webhook(target.value, allowed)
        except InvalidTargetError as exc:
            raise InvalidRequestError(FIELD, f"{text[:200]!r}: {exc}") from None
        if target.kind is TargetKind.MAIL and not mail_anyone and (
                email is None or target.value.lower() != email.lower()):
            raise InvalidRequestError(FIELD, f"{text[:200]!r}: e-mail goes only to your own address "
                                      f"({email or 'your token names none'})")
        found.append(target.text)
    return found
