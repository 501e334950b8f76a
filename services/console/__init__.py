"""The web console's gRPC side (ConsoleService): users, sessions, keys, usage, playground submits."""
