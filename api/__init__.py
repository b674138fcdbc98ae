"""The HTTP API and the web chat it serves."""
