"""The lab's services: store, api and web, each a tiny stdlib HTTP/JSON process.

Run one with ``python -m chaos.lab.services.<name> --port P [--upstream URL ...]
--variant fragile|resilient``. The resilient variant's patterns live in
``resilience.py`` so they can be read on their own.
"""
