"""The catalog's clients of the outside world that is no database: the notifier's webhook and mail senders."""
