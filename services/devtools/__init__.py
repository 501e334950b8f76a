"""Starting things for development, tests and the demo, not serving code: the process stack of
`lipsync dev`, the embedded redis-server and Triton launchers, the demo and its sample inputs."""
