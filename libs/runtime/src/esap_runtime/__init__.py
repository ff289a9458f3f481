"""Plumbing shared by every esap-batch service. It holds no business rules and knows no service."""
