"""The Docker Compose variant of the local stack (see docker-compose.yml at the repo root)."""
