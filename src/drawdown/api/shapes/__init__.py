"""Typed results shaped into Credyt's JSON, one module per room."""
