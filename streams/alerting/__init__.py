"""Alerts for operators: service-level rules and their delivery to webhooks."""
