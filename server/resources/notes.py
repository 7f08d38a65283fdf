"""notes endpoints."""
