"""`myoseg bench`: latency per stage and backend, in process, over TCP, and per cold-started process."""
