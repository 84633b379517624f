"""Run Locust with the chaos plugin: ``python -m chaos.load.main <locust arguments>``.

The controller starts every Locust process with this command (built by
:mod:`chaos.load.argv`, run by :mod:`chaos.load.process`). It is also how a worker on
another machine joins an experiment's master (``load.remoteWorkers``); the worker
fetches the locustfile from the master::

    python -m chaos.load.main --worker --master-host HOST --master-port PORT -f -

``import locust`` comes first, on purpose: it monkey-patches the process with gevent,
which must happen before anything else imports socket, ssl or threading.
"""

from __future__ import annotations

import locust
import locust.main

from chaos.load import plugin


def main() -> None:
    plugin.install(locust.events)
    locust.main.main()


if __name__ == "__main__":
    main()
