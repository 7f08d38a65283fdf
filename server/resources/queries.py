"""queries endpoints."""
