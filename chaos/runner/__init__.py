"""Starting runs: what ``chaos run``, the controller service, schedules and game days share."""
