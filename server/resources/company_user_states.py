"""company user states endpoints."""
