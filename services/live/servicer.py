"""LiveService: create, connect (WHIP offer/answer), read and end live sessions.

Every call is authenticated from the caller's key (`authorization` metadata, the same store and
check as the job service); creating a session is charged to the key's submit budget. A session
is visible to its own account only: another account's id is 404, as an unknown one is.
"""

from __future__ import annotations

import logging
import secrets
import tempfile
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc

from protos.lipsync.v1 import live_pb2, live_pb2_grpc
from services.console.session_auth import session_token
from services.core import billing
from services.core.errors import Conflict, InvalidArgument, Unavailable
from services.core.settings import Settings
from services.engine.engine_errors import InputError
from services.engine.render.renderer import mouth_model, resolve_seed
from services.engine.render.streaming import LiveFace
from services.engine.render.style import ALL_CONTROLS, parse_prompt
from services.jobs.auth import bearer_token
from services.jobs.limits import Budget, RequestBudgets
from services.jobs.validation import MAX_PROMPT, SEED_MAX, check_url
from services.live.manager import SessionManager
from services.live.media import LiveMedia
from services.live.registry import SessionRegistry
from services.live.session import LiveSession
from services.net.fetch import fetch_input
from services.store.accounts import AccountStore
from services.store.connection import RedisClient
from services.store.sessions import SessionStore
from services.store.users import UserStore

log = logging.getLogger(__name__)
RESOLUTIONS = billing.CREDITS_PER_SECOND
Fetch = Callable[..., Awaitable[Path]]  # `fetch_input`'s signature
FORWARDED = "x-lipsync-live-forwarded"  # a call one replica passed to another
OFFER_DEADLINE = 25.0  # ICE gathering with STUN/TURN round trips
FORWARD_DEADLINE = 10.0


class LiveServicer(live_pb2_grpc.LiveServiceServicer):
    def __init__(self, settings: Settings, redis: RedisClient, manager: SessionManager,
                 fetch: Fetch = fetch_input) -> None:
        self.settings = settings
        self.fetch = fetch  # how the portrait is fetched (`fetch_input`; tests may refuse all)
        self.accounts = AccountStore(redis)
        self.budgets = RequestBudgets(settings, redis)
        self.registry = SessionRegistry(redis)
        self.sessions = SessionStore(redis, settings.console_session_seconds)
        self.users = UserStore(redis)
        self.manager = manager
        self.node = settings.live_advertise_addr or settings.live_addr  # where peers reach us
        self._peers: dict[str, live_pb2_grpc.LiveServiceStub] = {}

    async def _caller(self, context: grpc.aio.ServicerContext, budget: Budget | None = None) -> str:
        """The caller's account: from an API key (charged to its budget), or from a signed-in
        console user's session (`authorization: Session <token>`, the console's live page)."""
        console = session_token(context, required=False)
        if console:
            session = await self.sessions.resolve(console)
            return (await self.users.get(session.user_id)).account_id
        account, key_id = await self.accounts.authenticate(bearer_token(context))
        if budget is not None:
            await self.budgets.charge(context, key_id, budget)
        return account

    async def CreateSession(self, request: live_pb2.CreateLiveSessionRequest,
                            context: grpc.aio.ServicerContext) -> live_pb2.LiveSession:
        account = await self._caller(context, Budget.SUBMIT)
        form = request.form_state
        image, resolution, seed = _validate(request, self.settings)
        if self.manager.full():
            raise Unavailable(f"This live server runs {self.settings.live_max_sessions} sessions "
                              "already; try again shortly")
        session_id = "live_" + secrets.token_hex(10)
        now = datetime.now(UTC)
        expires = now + timedelta(seconds=self.settings.live_connect_seconds)
        record = {"status": "waiting", "resolution": resolution, "created_at": _iso(now),
                  "expires_at": _iso(expires), "seconds": 0, "end_reason": "",
                  "node": self.node}
        await self.registry.open(session_id, account, record, self.settings.max_concurrent_sessions,
                                 billing.minimum_cost(resolution))
        try:
            face = await self._face(image, resolution, form.prompt, seed)
        except BaseException:
            await self.registry.update(session_id, account, {"status": "ended",
                                                             "end_reason": "invalid_image"},
                                       ended=True)
            raise
        rate = billing.CREDITS_PER_SECOND[resolution]

        async def bill(seconds: int) -> bool:
            return await self.registry.charge(session_id, account, seconds * rate)

        session = LiveSession(session_id, account, resolution, LiveMedia(face, mouth_model()),
                              self.manager.executor, self.manager.rtc, bill=bill,
                              report=self.manager.report, max_seconds=self.settings.live_max_seconds,
                              idle_seconds=self.settings.live_idle_seconds)
        self.manager.add(session, self.settings.live_connect_seconds)
        log.info("live session created", extra={"job_id": session_id})
        return _message(session_id, await self.registry.get(session_id, account), session)

    async def _face(self, image_url: str, resolution: str, prompt: str, seed: int) -> LiveFace:
        frames = int(self.settings.live_max_seconds * 25) + 25
        with tempfile.TemporaryDirectory(prefix="lipsync-live-") as tmp:
            try:
                path = await self.fetch(image_url, Path(tmp) / "image", self.settings, "image",
                                        label="formState.image")
                return await self.manager.run(LiveFace.from_image, path, resolution,
                                              parse_prompt(prompt, ALL_CONTROLS), seed, frames)
            except InputError as exc:  # fetch failures, undecodable pictures, no face
                raise InvalidArgument(str(exc), field="formState.image") from None

    async def Offer(self, request: live_pb2.LiveOfferRequest,
                    context: grpc.aio.ServicerContext) -> live_pb2.LiveOfferResponse:
        account = await self._caller(context)
        record = await self._running(request.id, account)
        session = self.manager.get(request.id)
        if session is None:
            answer: live_pb2.LiveOfferResponse = await self._peer(record, context).Offer(
                request, metadata=_forwarded(context), timeout=OFFER_DEADLINE)
            return answer
        return live_pb2.LiveOfferResponse(sdp=await session.answer(request.sdp))

    async def GetSession(self, request: live_pb2.LiveSessionRequest,
                         context: grpc.aio.ServicerContext) -> live_pb2.LiveSession:
        account = await self._caller(context)
        record = await self.registry.get(request.id, account)
        return _message(request.id, record, self.manager.get(request.id))

    async def EndSession(self, request: live_pb2.LiveSessionRequest,
                         context: grpc.aio.ServicerContext) -> live_pb2.LiveSession:
        account = await self._caller(context)
        record = await self.registry.get(request.id, account)
        session = self.manager.get(request.id)
        if session is not None:
            await session.end("ended_by_client")
        elif record.get("status") != "ended":
            ended: live_pb2.LiveSession = await self._peer(record, context).EndSession(
                request, metadata=_forwarded(context), timeout=FORWARD_DEADLINE)
            return ended
        return _message(request.id, await self.registry.get(request.id, account), session)

    async def _running(self, session_id: str, account: str) -> dict[str, str]:
        record = await self.registry.get(session_id, account)  # NotFound for others' ids
        if record.get("status") == "ended":
            raise Conflict(f"This live session has ended ({record.get('end_reason')}); create a "
                           "new one")
        return record

    def _peer(self, record: dict[str, str], context: grpc.aio.ServicerContext
              ) -> live_pb2_grpc.LiveServiceStub:
        """The replica running a session that is not here (calls are passed on once)."""
        node = record.get("node", "")
        if not node or node == self.node or _was_forwarded(context):
            raise Unavailable("The live server running this session does not answer; the "
                              "session ends by itself when that server stops")
        if node not in self._peers:
            self._peers[node] = live_pb2_grpc.LiveServiceStub(grpc.aio.insecure_channel(node))
        return self._peers[node]


def _forwarded(context: grpc.aio.ServicerContext) -> list[tuple[str, str]]:
    """The caller's metadata (their key, the request id), marked as passed on."""
    passed = [(k, v) for k, v in context.invocation_metadata() or ()
              if k in ("authorization", "x-request-id") and isinstance(v, str)]
    return [*passed, (FORWARDED, "1")]


def _was_forwarded(context: grpc.aio.ServicerContext) -> bool:
    return any(k == FORWARDED for k, _ in context.invocation_metadata() or ())


def _validate(request: live_pb2.CreateLiveSessionRequest, settings: Settings) -> tuple[str, str, int]:
    if not request.HasField("form_state"):
        raise InvalidArgument("formState is required", field="formState")
    form = request.form_state
    if not form.image:
        raise InvalidArgument("formState.image is required", field="formState.image")
    check_url(form.image, "formState.image")
    resolution = form.resolution or "480p"
    if resolution not in RESOLUTIONS:
        raise InvalidArgument('formState.resolution must be "480p" or "720p"',
                              field="formState.resolution")
    if len(form.prompt) > MAX_PROMPT:
        raise InvalidArgument(f"formState.prompt is longer than {MAX_PROMPT} characters",
                              field="formState.prompt")
    seed = form.seed if form.HasField("seed") else -1
    if not -1 <= seed <= SEED_MAX:
        raise InvalidArgument(f"formState.seed must be -1 (random) or between 0 and {SEED_MAX}",
                              field="formState.seed")
    return form.image, resolution, resolve_seed(seed)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _message(session_id: str, record: dict[str, str], session: LiveSession | None) -> live_pb2.LiveSession:
    """The public view: the record, with the figures of a session running here."""
    message = live_pb2.LiveSession(
        id=session_id, whip=f"/api/v1/live/{session_id}/whip",
        status=record.get("status", ""), expires_at=record.get("expires_at", ""),
        created_at=record.get("created_at", ""), resolution=record.get("resolution", ""),
        seconds_streamed=float(record.get("seconds", 0) or 0),
        credits=int(record.get("credits", 0) or 0), end_reason=record.get("end_reason", ""),
        fps=float(record.get("fps", 0) or 0), dropped_frames=int(record.get("dropped", 0) or 0))
    if session is not None:
        message.status = session.status
        message.seconds_streamed = session.seconds
        message.end_reason = session.end_reason
        message.dropped_frames = session.stats.dropped
        message.fps = session.fps
        for name, value in session.stats.summary().items():
            message.latency_ms[name] = value
    return message
