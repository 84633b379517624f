"""Schedules: experiments fired by APScheduler, with blackout windows and a concurrency policy."""
