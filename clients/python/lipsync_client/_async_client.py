"""The asynchronous client: `Client`'s operations as coroutines, on httpx.AsyncClient."""

from __future__ import annotations

import asyncio
import inspect
import os
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from lipsync_client import _base
from lipsync_client._base import NoEventStream as _NoEventStream
from lipsync_client._base import ProgressCallback, Source, Waiting
from lipsync_client._errors import APIConnectionError, LipsyncError, RateLimited, ServerError
from lipsync_client._models import Account, Job
from lipsync_client._sse import EventParser


class AsyncClient:
    """The lipsync REST API, async (`async with AsyncClient() as client: ...`); everything as
    `Client` says. `on_progress` may be a plain function or a coroutine function."""

    def __init__(self, base_url: str | None = None, api_key: str | None = None, *,
                 timeout: float = _base.DEFAULT_TIMEOUT, max_retries: int = _base.DEFAULT_MAX_RETRIES,
                 max_retry_wait: float = _base.DEFAULT_MAX_RETRY_WAIT,
                 poll_interval: float = _base.DEFAULT_POLL_INTERVAL,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.options = _base.Options.resolve(base_url, api_key, timeout, max_retries, max_retry_wait,
                                             poll_interval)
        self._http = httpx.AsyncClient(base_url=self.options.base_url, headers=self.options.headers(),
                                  timeout=timeout, transport=transport)

    # -- submitting --------------------------------------------------------------------------

    async def lipsync_image(self, image: Source, audio: Source, *, resolution: str | None = None,
                      seed: int | None = None, prompt: str | None = None, mask_image: Source | None = None,
                      webhook: str | None = None, idempotency_key: str | None = None) -> Job:
        """Animate a portrait speaking `audio`."""
        form = _base.form_state(image=await self._url(image), audio=await self._url(audio),
                                resolution=resolution, mask_image=await self._url(mask_image),
                                prompt=prompt, seed=seed)
        return await self._submit("lipsync-image", form, webhook, idempotency_key)

    async def lipsync_video(self, video: Source, audio: Source, *, resolution: str | None = None,
                      seed: int | None = None, prompt: str | None = None, mask_image: Source | None = None,
                      webhook: str | None = None, idempotency_key: str | None = None) -> Job:
        """Re-sync a video's lips to new audio."""
        form = _base.form_state(video=await self._url(video), audio=await self._url(audio),
                                resolution=resolution, mask_image=await self._url(mask_image),
                                prompt=prompt, seed=seed)
        return await self._submit("lipsync-video", form, webhook, idempotency_key)

    async def lipsync_image_multi(self, image: Source, left_audio: Source, right_audio: Source, *,
                            order: str | None = None, resolution: str | None = None,
                            seed: int | None = None, prompt: str | None = None,
                            webhook: str | None = None, idempotency_key: str | None = None) -> Job:
        """Two people in one picture, each speaking a track (`order`: meanwhile, left_right,
        right_left)."""
        form = _base.form_state(image=await self._url(image), left_audio=await self._url(left_audio),
                                right_audio=await self._url(right_audio), order=order, resolution=resolution,
                                prompt=prompt, seed=seed)
        return await self._submit("lipsync-image-multi", form, webhook, idempotency_key)

    async def upload(self, path: str | os.PathLike[str]) -> str:
        """Upload a local file; returns a signed URL (valid 24 h) usable as any input."""
        content = _base.local_file(path).read_bytes()
        reply = await self._request("POST", "/api/v1/files", content=content,
                              headers={"Content-Type": "application/octet-stream"})
        return str(reply.json()["url"])

    # -- jobs and the account ----------------------------------------------------------------

    async def get_job(self, job: Job | str) -> Job:
        reply = await self._request("GET", f"/api/v1/jobs/{_base.job_id_of(job)}")
        return Job.from_json(reply.json())

    async def list_jobs(self, limit: int | None = None, before: str | None = None) -> list[Job]:
        params = _base.form_state(limit=limit, before=before)
        reply = await self._request("GET", "/api/v1/jobs", params=params)
        return [Job.from_json(j) for j in reply.json()["jobs"]]

    async def cancel(self, job: Job | str) -> Job:
        """End a processing job as failed ("Job was canceled"), refunded."""
        reply = await self._request("POST", f"/api/v1/jobs/{_base.job_id_of(job)}/cancel", safe=False)
        return Job.from_json(reply.json())

    async def account(self) -> Account:
        return Account.from_json((await self._request("GET", "/api/v1/account")).json())

    # -- waiting and the result --------------------------------------------------------------

    async def wait(self, job: Job | str, *, on_progress: ProgressCallback | None = None,
             timeout: float | None = 600.0) -> Job:
        """The job once it has ended (completed or failed; check `status`). Follows the job's
        event stream, resuming after the last event if the connection drops, and polls where
        there is no stream. `on_progress(job)` is called at every change, the final one too.
        Raises WaitTimeout after `timeout` seconds (None: no limit)."""
        waiting = Waiting(_base.job_id_of(job), on_progress, timeout)
        failures = 0
        while True:
            waiting.check()
            try:
                final = await self._follow(waiting)
            except _NoEventStream:
                return await self._poll(waiting)
            except (httpx.TransportError, APIConnectionError, ServerError):
                failures += 1
                if failures > self.options.max_retries:
                    return await self._poll(waiting)
                await asyncio.sleep(waiting.pause(_base.backoff(failures)))
                continue
            except RateLimited as exc:
                await asyncio.sleep(waiting.pause(exc.retry_after))
                continue
            if final is not None:
                return final
            failures = 0  # the stream ended without the end: reconnect where it stopped

    async def download(self, job: Job | str, path: str | os.PathLike[str]) -> Path:
        """Save a completed job's MP4 to `path` (written whole, then moved into place)."""
        done = job if isinstance(job, Job) and job.output else await self.get_job(job)
        if not done.output:
            raise LipsyncError(f"Job {done.id} has no output: it is {done.status}"
                               + (f" ({done.error})" if done.error else ""))
        target = Path(path)
        partial = target.with_name(target.name + ".part")
        request = self._http.build_request("GET", done.output)
        del request.headers["Authorization"]  # a signed link (an S3 one refuses a second auth)
        for attempt in range(self.options.max_retries + 1):
            try:
                response = await self._http.send(request, stream=True)
                try:
                    _base.raise_for_answer(response)
                    with partial.open("wb") as out:
                        async for chunk in response.aiter_bytes():
                            out.write(chunk)
                finally:
                    await response.aclose()
                break
            except httpx.TransportError as exc:
                if attempt >= self.options.max_retries:
                    raise APIConnectionError(f"Could not download {done.output}: {exc}") from exc
                await asyncio.sleep(_base.backoff(attempt))
        partial.replace(target)
        return target

    async def _follow(self, waiting: Waiting) -> Job | None:
        """One connection to the event stream: the final job, or None if it closed before."""
        headers = {"Accept": "text/event-stream"}
        if waiting.last_event_id:
            headers["Last-Event-ID"] = waiting.last_event_id
        timeout = httpx.Timeout(self.options.timeout, read=waiting.read_timeout())
        url = f"/api/v1/jobs/{waiting.job_id}/events"
        async with self._http.stream("GET", url, headers=headers, timeout=timeout) as response:
            if response.status_code == 204:  # nothing after the last event: it was the end
                if waiting.last is not None and waiting.last.done:
                    return waiting.last
                return await self.get_job(waiting.job_id)
            if response.status_code in (404, 405, 501) or (
                    response.is_success and not _base.is_event_stream(response)):
                await response.aread()
                await self._stream_missing(response, waiting.job_id)
            if not response.is_success:
                await response.aread()
                _base.raise_for_answer(response)
            parser = EventParser()
            try:
                async for line in response.aiter_lines():
                    event = parser.feed(line)
                    if event is None:
                        waiting.check()
                        continue
                    if event.event == "error":
                        raise ServerError(event.data, status=503)
                    if event.id:
                        waiting.last_event_id = event.id
                    job = _base.event_job(event.data)
                    if waiting.changed(job) and waiting.on_progress is not None:
                        await _call(waiting.on_progress, job)
                    if job.done:
                        return job
                    waiting.check()
            except httpx.ReadTimeout:
                waiting.check()
        return None

    async def _stream_missing(self, response: httpx.Response, job_id: str) -> None:
        """A 404 is the job's (raise it) or the route's (an older server: poll)."""
        if response.status_code == 404:
            await self.get_job(job_id)  # raises NotFound for an unknown job
        raise _NoEventStream()

    async def _poll(self, waiting: Waiting) -> Job:
        while True:
            job = await self.get_job(waiting.job_id)
            if waiting.changed(job) and waiting.on_progress is not None:
                await _call(waiting.on_progress, job)
            if job.done:
                return job
            await asyncio.sleep(waiting.pause(self.options.poll_interval))

    # -- plumbing ----------------------------------------------------------------------------

    async def _url(self, source: Source | None) -> str | None:
        if source is None or _base.is_url(source):
            return None if source is None else str(source)
        return await self.upload(source)

    async def _submit(self, model: str, form: dict[str, Any], webhook: str | None,
                idempotency_key: str | None) -> Job:
        reply = await self._request("POST", f"/api/v1/{model}", json=_base.submit_body(form, webhook),
                              headers=_base.idempotency_headers(idempotency_key))
        return Job.from_json({**reply.json(), "model": model})

    async def _request(self, method: str, path: str, *, safe: bool = True, **kwargs: Any) -> httpx.Response:
        """The successful answer, after the retries the rules allow; else the typed error."""
        attempt = 0
        while True:
            try:
                response = await self._http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                if attempt < self.options.max_retries and _base.retryable_transport_error(exc, safe):
                    await asyncio.sleep(_base.backoff(attempt))
                    attempt += 1
                    continue
                raise APIConnectionError(f"{method} {path}: {exc}") from exc
            if response.is_success:
                return response
            error = _base.error_of(response)
            wait = _base.retry_wait(error, safe, attempt, self.options)
            if wait is None:
                raise error
            await asyncio.sleep(wait)
            attempt += 1

    async def close(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        await self.close()


async def _call(callback: ProgressCallback, job: Job) -> None:
    result = callback(job)
    if inspect.isawaitable(result):
        await result
