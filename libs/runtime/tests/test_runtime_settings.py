"""The settings every service shares: production refuses RabbitMQ's guest account however the URL spells it."""

import pytest
from pydantic import SecretStr, ValidationError

from esap_runtime.settings import Environment, ServiceSettings, uses_guest_account


@pytest.mark.parametrize("url", [
    "amqp://guest:guest@rabbitmq:5672/",
    "amqp://guest@rabbitmq/",
    "amqp://%67%75%65%73%74:%67%75%65%73%74@rabbitmq/",
    "amqp://GUEST:other@rabbitmq/",
    "amqps://guest:secret@rabbitmq:5671/esap",
    "amqp://rabbitmq:5672/",
    "amqp://:secret@rabbitmq/",
])
def test_production_refuses_the_guest_account_however_it_is_written(url: str) -> None:
    assert uses_guest_account(url)
    with pytest.raises(ValidationError, match="guest account"):
        ServiceSettings(environment=Environment.PRODUCTION, amqp_url=SecretStr(url))


@pytest.mark.parametrize("url", ["amqp://esap:s3cret@rabbitmq:5672/", "amqp://guesthouse:pw@rabbitmq/",
                                 "amqp://esap:guest@rabbitmq/"])
def test_production_accepts_an_account_of_its_own(url: str) -> None:
    assert not uses_guest_account(url)
    settings = ServiceSettings(environment=Environment.PRODUCTION, amqp_url=SecretStr(url))
    assert settings.amqp_url.get_secret_value() == url


def test_development_keeps_the_guest_default() -> None:
    assert uses_guest_account(ServiceSettings().amqp_url.get_secret_value())
