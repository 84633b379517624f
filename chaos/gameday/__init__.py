"""Game days: a plan of experiments run by a team, with holds, a live view and a summary."""
