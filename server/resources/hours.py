"""hours endpoints."""
