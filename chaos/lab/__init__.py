"""The built-in lab: a small web -> api -> store system to practise chaos on.

``chaos.lab.supervisor`` runs it (services as child processes, every hop through the
TCP proxy); ``chaos.lab.manage`` starts, stops and inspects it for the CLI.
"""
