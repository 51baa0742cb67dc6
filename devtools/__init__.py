"""Developer tooling: the dev supervisor, the embedded PostgreSQL/Redis, demo data. Not production code."""
