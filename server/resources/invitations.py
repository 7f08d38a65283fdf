"""invitations endpoints."""
