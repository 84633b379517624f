"""The node agent: HTTP API, auth, leases, undo journal, recovery on start."""
