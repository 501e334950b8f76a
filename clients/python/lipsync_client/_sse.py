"""Server-Sent Events, parsed line by line (the parts of the format the API uses)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Event:
    data: str
    id: str | None = None
    event: str = "message"


class EventParser:
    """Feed it the stream's lines; it returns each event as its blank line ends it."""

    def __init__(self) -> None:
        self._data: list[str] = []
        self._id: str | None = None
        self._event = "message"
        self.last_event_id: str | None = None

    def feed(self, line: str) -> Event | None:
        line = line.rstrip("\r\n")
        if not line:
            if not self._data:
                self._event = "message"
                return None
            event = Event("\n".join(self._data), self._id, self._event)
            self._data, self._event = [], "message"
            return event
        if line.startswith(":"):
            return None  # a comment: the keep-alive
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "id":
            self._id = self.last_event_id = value
        elif name == "event":
            self._event = value
        return None
