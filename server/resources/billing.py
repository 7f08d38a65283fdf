"""billing endpoints."""
