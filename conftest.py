"""Loads the shared fixtures for real PostgreSQL and RabbitMQ into every test directory."""

pytest_plugins = ["esap_runtime.testing"]
