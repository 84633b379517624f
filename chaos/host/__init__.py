"""Host level: /proc, signals, the TCP proxy and its control client (argv, never shell)."""
