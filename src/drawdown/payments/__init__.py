"""Taking money: top-ups, saved cards, auto top-up and refunds through Stripe."""
