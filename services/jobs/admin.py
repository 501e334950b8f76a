"""AdminService: keys and credits, for operators holding the admin token."""

from __future__ import annotations

from datetime import UTC, datetime

import grpc

from protos.lipsync.v1 import admin_pb2, admin_pb2_grpc
from services.core.settings import Settings
from services.jobs.auth import require_admin
from services.store.accounts import AccountStore, KeyInfo
from services.store.connection import RedisClient


def key_info(info: KeyInfo) -> admin_pb2.ApiKeyInfo:
    return admin_pb2.ApiKeyInfo(
        key_id=info.key_id, name=info.name, account_id=info.account_id, revoked=info.revoked,
        created_at=datetime.fromtimestamp(info.created_at, UTC).isoformat(timespec="seconds"))


class AdminServicer(admin_pb2_grpc.AdminServiceServicer):
    def __init__(self, settings: Settings, redis: RedisClient) -> None:
        self.settings = settings
        self.accounts = AccountStore(redis)

    async def CreateKey(self, request: admin_pb2.CreateKeyRequest,
                        context: grpc.aio.ServicerContext) -> admin_pb2.CreateKeyResponse:
        require_admin(context, self.settings)
        new = await self.accounts.create_key(request.name, request.credits, request.account_id)
        return admin_pb2.CreateKeyResponse(key_id=new.key_id, api_key=new.api_key,
                                           account_id=new.account_id,
                                           webhook_secret=new.webhook_secret)

    async def ListKeys(self, request: admin_pb2.ListKeysRequest,
                       context: grpc.aio.ServicerContext) -> admin_pb2.ListKeysResponse:
        require_admin(context, self.settings)
        return admin_pb2.ListKeysResponse(keys=[key_info(k) for k in await self.accounts.list_keys()])

    async def RevokeKey(self, request: admin_pb2.RevokeKeyRequest,
                        context: grpc.aio.ServicerContext) -> admin_pb2.ApiKeyInfo:
        require_admin(context, self.settings)
        return key_info(await self.accounts.revoke(request.key_id))

    async def AddCredits(self, request: admin_pb2.AddCreditsRequest,
                         context: grpc.aio.ServicerContext) -> admin_pb2.AccountBalance:
        require_admin(context, self.settings)
        balance = await self.accounts.add_credits(request.account_id, request.credits)
        return admin_pb2.AccountBalance(account_id=request.account_id, credits=balance)
