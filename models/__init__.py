"""SQLModel tables of ConnectNow; the database is the source of truth."""
