"""Live sessions: a portrait speaking, in real time, the audio a caller streams over WebRTC
(`lipsync serve live`; docs/live.md)."""
