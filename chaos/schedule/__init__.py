"""Schedules: experiments fired by APScheduler, with blackout windows and a concurrency policy.

The only package that imports APScheduler. ``manage`` adds, lists, pauses, resumes and
removes schedules (the CLI and the service's API call it); ``scheduler.Scheduler`` is what
the controller service runs (``start``/``stop``/``is_leader``); ``firing`` is what one
firing does; ``guard`` and ``overlap`` keep overlapping runs apart; ``blackout`` and
``triggers`` read the user's windows and cron expressions; ``leader`` picks the one
controller that fires; ``executor`` binds APScheduler's jobs to their scheduler.
"""
