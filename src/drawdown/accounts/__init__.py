"""Accounts and their scopes: platforms, their live and test environments, and connected accounts."""
