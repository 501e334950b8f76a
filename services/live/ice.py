"""The ICE servers WebRTC is given (`LIPSYNC_ICE_SERVERS`): STUN to learn the public address
behind a NAT, TURN to relay through one when no direct path exists (docs/live.md)."""

from __future__ import annotations

from aiortc import RTCConfiguration, RTCIceServer

from services.core.settings import Settings


def rtc_configuration(settings: Settings) -> RTCConfiguration:
    urls = [u.strip() for u in settings.ice_servers.split(",") if u.strip()]
    servers = [RTCIceServer(urls=url, username=settings.ice_username or None,
                            credential=str(settings.ice_credential) or None)
               if url.startswith(("turn:", "turns:")) else RTCIceServer(urls=url)
               for url in urls]
    return RTCConfiguration(iceServers=servers)
