"""ratings endpoints."""
