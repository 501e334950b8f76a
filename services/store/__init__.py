"""Redis: key names, job records and their state machine, the queue, events, keys and credits."""
