"""Run store: SQLModel tables and a repository returning plain records."""
