"""The synchronous client."""

from __future__ import annotations

import os
import time
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


class Client:
    """The lipsync REST API. `base_url` and `api_key` default to `LIPSYNC_BASE_URL` and
    `LIPSYNC_API_KEY`. Local paths given as inputs are uploaded first; submits carry an
    Idempotency-Key and are retried on connection errors and 503; a 429 waits `Retry-After`
    (up to `max_retry_wait` seconds) and tries again, up to `max_retries` times."""

    def __init__(self, base_url: str | None = None, api_key: str | None = None, *,
                 timeout: float = _base.DEFAULT_TIMEOUT, max_retries: int = _base.DEFAULT_MAX_RETRIES,
                 max_retry_wait: float = _base.DEFAULT_MAX_RETRY_WAIT,
                 poll_interval: float = _base.DEFAULT_POLL_INTERVAL,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.options = _base.Options.resolve(base_url, api_key, timeout, max_retries, max_retry_wait,
                                             poll_interval)
        self._http = httpx.Client(base_url=self.options.base_url, headers=self.options.headers(),
                                  timeout=timeout, transport=transport)

    # -- submitting --------------------------------------------------------------------------

    def lipsync_image(self, image: Source, audio: Source, *, resolution: str | None = None,
                      seed: int | None = None, prompt: str | None = None, mask_image: Source | None = None,
                      webhook: str | None = None, idempotency_key: str | None = None) -> Job:
        """Animate a portrait speaking `audio`."""
        form = _base.form_state(image=self._url(image), audio=self._url(audio), resolution=resolution,
                                mask_image=self._url(mask_image), prompt=prompt, seed=seed)
        return self._submit("lipsync-image", form, webhook, idempotency_key)

    def lipsync_video(self, video: Source, audio: Source, *, resolution: str | None = None,
                      seed: int | None = None, prompt: str | None = None, mask_image: Source | None = None,
                      webhook: str | None = None, idempotency_key: str | None = None) -> Job:
        """Re-sync a video's lips to new audio."""
        form = _base.form_state(video=self._url(video), audio=self._url(audio), resolution=resolution,
                                mask_image=self._url(mask_image), prompt=prompt, seed=seed)
        return self._submit("lipsync-video", form, webhook, idempotency_key)

    def lipsync_image_multi(self, image: Source, left_audio: Source, right_audio: Source, *,
                            order: str | None = None, resolution: str | None = None,
                            seed: int | None = None, prompt: str | None = None,
                            webhook: str | None = None, idempotency_key: str | None = None) -> Job:
        """Two people in one picture, each speaking a track (`order`: meanwhile, left_right,
        right_left)."""
        form = _base.form_state(image=self._url(image), left_audio=self._url(left_audio),
                                right_audio=self._url(right_audio), order=order, resolution=resolution,
                                prompt=prompt, seed=seed)
        return self._submit("lipsync-image-multi", form, webhook, idempotency_key)

    def upload(self, path: str | os.PathLike[str]) -> str:
        """Upload a local file; returns a signed URL (valid 24 h) usable as any input."""
        content = _base.local_file(path).read_bytes()
        reply = self._request("POST", "/api/v1/files", content=content,
                              headers={"Content-Type": "application/octet-stream"})
        return str(reply.json()["url"])

    # -- jobs and the account ----------------------------------------------------------------

    def get_job(self, job: Job | str) -> Job:
        return Job.from_json(self._request("GET", f"/api/v1/jobs/{_base.job_id_of(job)}").json())

    def list_jobs(self, limit: int | None = None, before: str | None = None) -> list[Job]:
        params = _base.form_state(limit=limit, before=before)
        return [Job.from_json(j) for j in self._request("GET", "/api/v1/jobs", params=params).json()["jobs"]]

    def cancel(self, job: Job | str) -> Job:
        """End a processing job as failed ("Job was canceled"), refunded."""
        reply = self._request("POST", f"/api/v1/jobs/{_base.job_id_of(job)}/cancel", safe=False)
        return Job.from_json(reply.json())

    def account(self) -> Account:
        return Account.from_json(self._request("GET", "/api/v1/account").json())

    # -- waiting and the result --------------------------------------------------------------

    def wait(self, job: Job | str, *, on_progress: ProgressCallback | None = None,
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
                final = self._follow(waiting)
            except _NoEventStream:
                return self._poll(waiting)
            except (httpx.TransportError, APIConnectionError, ServerError):
                failures += 1
                if failures > self.options.max_retries:
                    return self._poll(waiting)
                time.sleep(waiting.pause(_base.backoff(failures)))
                continue
            except RateLimited as exc:
                time.sleep(waiting.pause(exc.retry_after))
                continue
            if final is not None:
                return final
            failures = 0  # the stream ended without the end: reconnect where it stopped

    def download(self, job: Job | str, path: str | os.PathLike[str]) -> Path:
        """Save a completed job's MP4 to `path` (written whole, then moved into place)."""
        done = job if isinstance(job, Job) and job.output else self.get_job(job)
        if not done.output:
            raise LipsyncError(f"Job {done.id} has no output: it is {done.status}"
                               + (f" ({done.error})" if done.error else ""))
        target = Path(path)
        partial = target.with_name(target.name + ".part")
        request = self._http.build_request("GET", done.output)
        del request.headers["Authorization"]  # a signed link (an S3 one refuses a second auth)
        for attempt in range(self.options.max_retries + 1):
            try:
                response = self._http.send(request, stream=True)
                try:
                    _base.raise_for_answer(response)
                    with partial.open("wb") as out:
                        for chunk in response.iter_bytes():
                            out.write(chunk)
                finally:
                    response.close()
                break
            except httpx.TransportError as exc:
                if attempt >= self.options.max_retries:
                    raise APIConnectionError(f"Could not download {done.output}: {exc}") from exc
                time.sleep(_base.backoff(attempt))
        partial.replace(target)
        return target

    def _follow(self, waiting: Waiting) -> Job | None:
        """One connection to the event stream: the final job, or None if it closed before."""
        headers = {"Accept": "text/event-stream"}
        if waiting.last_event_id:
            headers["Last-Event-ID"] = waiting.last_event_id
        timeout = httpx.Timeout(self.options.timeout, read=waiting.read_timeout())
        url = f"/api/v1/jobs/{waiting.job_id}/events"
        with self._http.stream("GET", url, headers=headers, timeout=timeout) as response:
            if response.status_code == 204:  # nothing after the last event: it was the end
                return waiting.last if waiting.last and waiting.last.done else self.get_job(waiting.job_id)
            if response.status_code in (404, 405, 501) or (
                    response.is_success and not _base.is_event_stream(response)):
                response.read()
                self._stream_missing(response, waiting.job_id)
            if not response.is_success:
                response.read()
                _base.raise_for_answer(response)
            parser = EventParser()
            try:
                for line in response.iter_lines():
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
                        waiting.on_progress(job)
                    if job.done:
                        return job
                    waiting.check()
            except httpx.ReadTimeout:
                waiting.check()
        return None

    def _stream_missing(self, response: httpx.Response, job_id: str) -> None:
        """A 404 is the job's (raise it) or the route's (an older server: poll)."""
        if response.status_code == 404:
            self.get_job(job_id)  # raises NotFound for an unknown job
        raise _NoEventStream()

    def _poll(self, waiting: Waiting) -> Job:
        while True:
            job = self.get_job(waiting.job_id)
            if waiting.changed(job) and waiting.on_progress is not None:
                waiting.on_progress(job)
            if job.done:
                return job
            time.sleep(waiting.pause(self.options.poll_interval))

    # -- plumbing ----------------------------------------------------------------------------

    def _url(self, source: Source | None) -> str | None:
        if source is None or _base.is_url(source):
            return None if source is None else str(source)
        return self.upload(source)

    def _submit(self, model: str, form: dict[str, Any], webhook: str | None,
                idempotency_key: str | None) -> Job:
        reply = self._request("POST", f"/api/v1/{model}", json=_base.submit_body(form, webhook),
                              headers=_base.idempotency_headers(idempotency_key))
        return Job.from_json({**reply.json(), "model": model})

    def _request(self, method: str, path: str, *, safe: bool = True, **kwargs: Any) -> httpx.Response:
        """The successful answer, after the retries the rules allow; else the typed error."""
        attempt = 0
        while True:
            try:
                response = self._http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                if attempt < self.options.max_retries and _base.retryable_transport_error(exc, safe):
                    time.sleep(_base.backoff(attempt))
                    attempt += 1
                    continue
                raise APIConnectionError(f"{method} {path}: {exc}") from exc
            if response.is_success:
                return response
            error = _base.error_of(response)
            wait = _base.retry_wait(error, safe, attempt, self.options)
            if wait is None:
                raise error
            time.sleep(wait)
            attempt += 1

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
