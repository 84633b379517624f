"""Locust load for experiments, run as a subprocess that streams exact per-second SLI windows.

The controller side (:mod:`chaos.load.process`, :mod:`chaos.load.stream`,
:mod:`chaos.load.exits`, :mod:`chaos.load.argv`, :mod:`chaos.load.stats`) never imports
Locust: importing it monkey-patches the whole process with gevent. Only the modules
that run inside the Locust subprocess (:mod:`chaos.load.main`, :mod:`chaos.load.plugin`,
:mod:`chaos.load.builtin`) import locust and gevent; the recording, the roles of the
Locust processes and the master's merge logic they use (:mod:`chaos.load.record`,
:mod:`chaos.load.roles`, :mod:`chaos.load.merge`) are pure, like :mod:`chaos.load.stats`.
This file must stay free of imports: the subprocess imports it before gevent has
patched anything.
"""
