"""Pure domain: money, pricing, grant consumption, ledger rules. No I/O, no framework imports."""
