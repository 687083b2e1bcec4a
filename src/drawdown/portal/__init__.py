"""The billing portal: a customer's own pages, opened from a 10-minute link (docs/portal.md)."""
