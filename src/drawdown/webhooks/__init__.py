"""Webhooks out: the outbox every fact is announced through, destinations, signed delivery with retries."""
