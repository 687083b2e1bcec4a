"""Holds: value set aside on a wallet account before a job, settled by its events, released after."""
