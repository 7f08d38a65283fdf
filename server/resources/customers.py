"""customers endpoints."""
