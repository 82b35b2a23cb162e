"""Alembic migrations of the hub's store (``hub.db.migrate`` runs them; ``versions/`` holds the revisions)."""
