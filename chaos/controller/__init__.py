"""Controller: the run loop, its events and the executors that carry faults."""
