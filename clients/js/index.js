// JavaScript client of the lipsync REST API (Node 18+: built-in fetch, no dependencies).
//
//   import { Client } from "lipsync-client";
//   const client = new Client({ baseUrl: "http://127.0.0.1:8080", apiKey: "sk_..." });
//   let job = await client.lipsyncImage({ image: "face.png", audio: "speech.mp3" }); // files are uploaded
//   job = await client.wait(job.id, { onProgress: (j) => console.log(j.progress) });
//   await client.download(job, "out.mp4");
//
// Jobs are the API's own JSON objects (id, model, status, output, error, executionTime, timings,
// progress, ...). Errors are typed (see the classes below); submits carry an Idempotency-Key and
// are retried on connection errors and 503; a 429 waits for Retry-After.

import { createHmac, randomUUID, timingSafeEqual } from "node:crypto";
import { readFile, rename, writeFile } from "node:fs/promises";
import { Buffer } from "node:buffer";

const DEFAULT_BASE_URL = "http://127.0.0.1:8080";
const STREAM_IDLE_MS = 45_000; // the server sends a comment every 15 s on a quiet stream
const FINAL = new Set(["completed", "failed"]);
const USER_AGENT = "lipsync-client-js/0.1.0";

// -- errors ----------------------------------------------------------------------------------

/** Anything this package throws. */
export class LipsyncError extends Error {
  constructor(message) {
    super(message);
    this.name = new.target.name;
  }
}

/** The API answered an error: `{error, code, field}` with an HTTP status. */
export class APIError extends LipsyncError {
  constructor(message, { status, code = "", field = null, requestId = null, body = null, retryAfter = null } = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
    this.requestId = requestId;
    this.body = body;
    this.retryAfter = retryAfter; // seconds, where the answer said (Retry-After)
  }
}
/** 400: a bad request or field (`field` names it, e.g. "formState.seed"). */
export class InvalidRequest extends APIError {}
/** 401: the API key is missing, malformed, unknown or revoked. */
export class AuthenticationError extends APIError {}
/** 402: not enough API credits; nothing was queued. */
export class InsufficientCredits extends APIError {}
/** 404: no such job (or another account's). */
export class NotFound extends APIError {}
/** 409: an Idempotency-Key reused for another request. */
export class Conflict extends APIError {}
/** 429: a request budget is spent; `retryAfter` seconds. */
export class RateLimited extends APIError {}
/** 5xx: the service failed or cannot take work now. */
export class ServerError extends APIError {}
/** The service could not be reached, on every try. */
export class APIConnectionError extends LipsyncError {}
/** wait() ran out of time; `job` is the last state seen. */
export class WaitTimeout extends LipsyncError {
  constructor(message, job = null) {
    super(message);
    this.job = job;
  }
}
/** verifyWebhook(): not a genuine, fresh delivery. */
export class InvalidSignature extends LipsyncError {}

const BY_STATUS = { 400: InvalidRequest, 401: AuthenticationError, 402: InsufficientCredits, 404: NotFound, 409: Conflict };

function retryAfterOf(headers) {
  const value = Number.parseFloat(headers.get("retry-after") ?? "");
  return Number.isFinite(value) ? Math.max(0, value) : null;
}

async function errorOf(response) {
  const text = await response.text();
  let body = text;
  try {
    body = JSON.parse(text);
  } catch {}
  const data = body && typeof body === "object" ? body : {};
  const status = response.status;
  const Kind = status === 429 ? RateLimited : status >= 500 ? ServerError : BY_STATUS[status] ?? APIError;
  const retryAfter = retryAfterOf(response.headers) ?? (status === 429 ? 1 : null);
  return new Kind(String(data.error || `HTTP ${status}`), {
    status, code: String(data.code || ""), field: data.field ?? null,
    requestId: response.headers.get("x-request-id"), body, retryAfter,
  });
}

// -- webhooks --------------------------------------------------------------------------------

function webhookSignature(raw, secret, msgId, timestamp) {
  const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
  const mac = createHmac("sha256", key).update(`${msgId}.${timestamp}.`).update(raw);
  return `v1,${mac.digest("base64")}`;
}

/**
 * The delivered job, once the raw `body` (Buffer or string, before any JSON parsing: in express,
 * `express.raw({ type: "application/json" })`) is shown to be signed with `secret` (Standard
 * Webhooks) within `tolerance` seconds; otherwise throws InvalidSignature.
 */
export function verifyWebhook(body, headers, secret, { tolerance = 300, now = Date.now() / 1000 } = {}) {
  const get = (name) => {
    if (typeof headers?.get === "function") return headers.get(name) ?? "";
    for (const [key, value] of Object.entries(headers ?? {})) {
      if (key.toLowerCase() === name) return Array.isArray(value) ? value.join(" ") : String(value);
    }
    return "";
  };
  const msgId = get("webhook-id");
  const stamp = get("webhook-timestamp");
  const offered = get("webhook-signature");
  if (!msgId || !stamp || !offered) {
    throw new InvalidSignature("missing webhook-id, webhook-timestamp or webhook-signature header");
  }
  if (!/^\d+$/.test(stamp)) throw new InvalidSignature("webhook-timestamp is not an integer");
  if (Math.abs(now - Number(stamp)) > tolerance) {
    throw new InvalidSignature("webhook-timestamp is too far from the current time (a replay?)");
  }
  const raw = typeof body === "string" ? Buffer.from(body) : Buffer.from(body);
  const expected = Buffer.from(webhookSignature(raw, secret, msgId, stamp));
  const ok = offered.split(" ").some((candidate) => {
    const given = Buffer.from(candidate);
    return candidate.startsWith("v1,") && given.length === expected.length && timingSafeEqual(given, expected);
  });
  if (!ok) throw new InvalidSignature("no webhook-signature matches the body");
  return JSON.parse(raw.toString("utf8"));
}

// -- the client ------------------------------------------------------------------------------

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const backoff = (attempt) => Math.min(8000, 500 * 2 ** attempt) * (0.5 + Math.random() / 2);
const isUrl = (source) => typeof source === "string" && /^https?:\/\//.test(source);
const idOf = (job) => (typeof job === "string" ? job : job.id);

function compact(fields) {
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined && value !== null));
}

export class Client {
  /**
   * @param {object} [options] baseUrl and apiKey default to LIPSYNC_BASE_URL and LIPSYNC_API_KEY.
   */
  constructor({ baseUrl, apiKey, timeout = 60_000, maxRetries = 3, maxRetryWait = 60, pollInterval = 3000 } = {}) {
    this.apiKey = apiKey ?? process.env.LIPSYNC_API_KEY;
    if (!this.apiKey) throw new LipsyncError("No API key: pass apiKey or set LIPSYNC_API_KEY");
    this.baseUrl = (baseUrl ?? process.env.LIPSYNC_BASE_URL ?? DEFAULT_BASE_URL).replace(/\/+$/, "");
    Object.assign(this, { timeout, maxRetries, maxRetryWait, pollInterval });
  }

  // -- submitting ----------------------------------------------------------------------------

  /** Animate a portrait speaking `audio`. */
  async lipsyncImage({ image, audio, resolution, seed, prompt, maskImage, webhook, idempotencyKey } = {}) {
    const form = compact({ image: await this.#url(image), audio: await this.#url(audio), resolution,
      mask_image: await this.#url(maskImage), prompt, seed });
    return this.#submit("lipsync-image", form, webhook, idempotencyKey);
  }

  /** Re-sync a video's lips to new audio. */
  async lipsyncVideo({ video, audio, resolution, seed, prompt, maskImage, webhook, idempotencyKey } = {}) {
    const form = compact({ video: await this.#url(video), audio: await this.#url(audio), resolution,
      mask_image: await this.#url(maskImage), prompt, seed });
    return this.#submit("lipsync-video", form, webhook, idempotencyKey);
  }

  /** Two people in one picture, each speaking a track (order: meanwhile, left_right, right_left). */
  async lipsyncImageMulti({ image, leftAudio, rightAudio, order, resolution, seed, prompt, webhook, idempotencyKey } = {}) {
    const form = compact({ image: await this.#url(image), left_audio: await this.#url(leftAudio),
      right_audio: await this.#url(rightAudio), order, resolution, prompt, seed });
    return this.#submit("lipsync-image-multi", form, webhook, idempotencyKey);
  }

  /** Upload a local file (a path, or the bytes); returns a signed URL usable as any input. */
  async upload(file) {
    const content = typeof file === "string" ? await readFile(file) : file;
    const response = await this.#request("POST", "/api/v1/files", {
      body: content, headers: { "Content-Type": "application/octet-stream" },
    });
    return (await response.json()).url;
  }

  // -- jobs and the account ------------------------------------------------------------------

  async getJob(job) {
    return (await this.#request("GET", `/api/v1/jobs/${encodeURIComponent(idOf(job))}`)).json();
  }

  async listJobs({ limit, before } = {}) {
    const query = new URLSearchParams(compact({ limit, before })).toString();
    return (await (await this.#request("GET", `/api/v1/jobs${query ? `?${query}` : ""}`)).json()).jobs;
  }

  /** End a processing job as failed ("Job was canceled"), refunded. */
  async cancel(job) {
    return (await this.#request("POST", `/api/v1/jobs/${encodeURIComponent(idOf(job))}/cancel`, { safe: false })).json();
  }

  async account() {
    return (await this.#request("GET", "/api/v1/account")).json();
  }

  // -- waiting and the result ----------------------------------------------------------------

  /**
   * The job once it has ended (completed or failed: check `status`). Follows the job's event
   * stream (Server-Sent Events), resuming after the last event if the connection drops, and
   * polls where there is none. `onProgress(job)` is called at every change, the final one too.
   * Throws WaitTimeout after `timeout` ms (null: no limit).
   */
  async wait(job, { onProgress, timeout = 600_000 } = {}) {
    const state = { id: idOf(job), onProgress, deadline: timeout == null ? null : Date.now() + timeout,
      lastEventId: null, last: null, lastText: null };
    let failures = 0;
    for (;;) {
      this.#check(state);
      let final;
      try {
        final = await this.#follow(state);
      } catch (error) {
        if (error instanceof NoEventStream) return this.#poll(state);
        if (error instanceof RateLimited) {
          await sleep(this.#pause(state, error.retryAfter * 1000));
          continue;
        }
        if (error instanceof ServerError || error instanceof APIConnectionError || error?.name === "TypeError"
            || error?.name === "AbortError") {
          failures += 1;
          if (failures > this.maxRetries) return this.#poll(state);
          await sleep(this.#pause(state, backoff(failures)));
          continue;
        }
        throw error;
      }
      if (final) return final;
      failures = 0; // the stream closed before the end: reconnect after the last event
    }
  }

  /** Save a completed job's MP4 to `path`; returns the path. */
  async download(job, path) {
    const done = typeof job === "object" && job.output ? job : await this.getJob(job);
    if (!done.output) {
      throw new LipsyncError(`Job ${done.id} has no output: it is ${done.status}${done.error ? ` (${done.error})` : ""}`);
    }
    // A signed link: sent without the key (an S3 presigned URL refuses a second authorization).
    const response = await this.#fetchRetrying(done.output, { method: "GET" }, true);
    if (!response.ok) throw await errorOf(response);
    const partial = `${path}.part`;
    await writeFile(partial, Buffer.from(await response.arrayBuffer()));
    await rename(partial, path);
    return path;
  }

  // -- plumbing ------------------------------------------------------------------------------

  async #follow(state) {
    const headers = { ...this.#headers(), Accept: "text/event-stream" };
    if (state.lastEventId) headers["Last-Event-ID"] = state.lastEventId;
    const controller = new AbortController();
    let idle;
    const arm = () => {
      clearTimeout(idle);
      const left = state.deadline == null ? STREAM_IDLE_MS : Math.min(STREAM_IDLE_MS, state.deadline - Date.now() + 500);
      idle = setTimeout(() => controller.abort(), Math.max(100, left));
    };
    arm();
    try {
      let response;
      try {
        response = await fetch(`${this.baseUrl}/api/v1/jobs/${encodeURIComponent(state.id)}/events`,
          { headers, signal: controller.signal });
      } catch (error) {
        throw new APIConnectionError(`GET events: ${error.cause?.message ?? error.message}`);
      }
      if (response.status === 204) {
        await response.body?.cancel();
        return state.last && FINAL.has(state.last.status) ? state.last : this.getJob(state.id);
      }
      const type = response.headers.get("content-type") ?? "";
      if ([404, 405, 501].includes(response.status) || (response.ok && !type.startsWith("text/event-stream"))) {
        await response.body?.cancel();
        if (response.status === 404) await this.getJob(state.id); // throws NotFound for an unknown job
        throw new NoEventStream();
      }
      if (!response.ok) throw await errorOf(response);
      const decoder = new TextDecoder();
      let buffer = "";
      let event = { data: [], id: null, type: "message" };
      for await (const chunk of response.body) {
        arm();
        buffer += decoder.decode(chunk, { stream: true });
        let newline;
        while ((newline = buffer.search(/\r?\n/)) >= 0) {
          const line = buffer.slice(0, newline);
          buffer = buffer.slice(buffer[newline] === "\r" ? newline + 2 : newline + 1);
          if (line === "") {
            if (event.data.length) {
              const done = await this.#event(state, event);
              if (done) {
                controller.abort();
                return done;
              }
            }
            event = { data: [], id: null, type: "message" };
          } else if (!line.startsWith(":")) {
            const colon = line.indexOf(":");
            const name = colon < 0 ? line : line.slice(0, colon);
            const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
            if (name === "data") event.data.push(value);
            else if (name === "id") event.id = value;
            else if (name === "event") event.type = value;
          }
        }
        this.#check(state);
      }
      return null;
    } catch (error) {
      if (error?.name === "AbortError") this.#check(state);
      throw error;
    } finally {
      clearTimeout(idle);
    }
  }

  async #event(state, event) {
    if (event.type === "error") throw new ServerError(event.data.join("\n"), { status: 503 });
    if (event.id) state.lastEventId = event.id;
    const text = event.data.join("\n");
    const job = JSON.parse(text);
    if (text !== state.lastText) {
      state.last = job;
      state.lastText = text;
      await state.onProgress?.(job);
    }
    return FINAL.has(job.status) ? job : null;
  }

  async #poll(state) {
    for (;;) {
      const job = await this.getJob(state.id);
      const text = JSON.stringify(job);
      if (text !== state.lastText) {
        state.last = job;
        state.lastText = text;
        await state.onProgress?.(job);
      }
      if (FINAL.has(job.status)) return job;
      await sleep(this.#pause(state, this.pollInterval));
    }
  }

  #check(state) {
    if (state.deadline != null && Date.now() >= state.deadline) {
      const seen = state.last ? ` (last seen ${state.last.status}, ${Math.round(state.last.progress * 100)}%)` : "";
      throw new WaitTimeout(`Job ${state.id} did not finish in time${seen}`, state.last);
    }
  }

  #pause(state, ms) {
    this.#check(state);
    return state.deadline == null ? ms : Math.max(0, Math.min(ms, state.deadline - Date.now()));
  }

  async #url(source) {
    if (source === undefined || source === null) return undefined;
    return isUrl(source) ? source : this.upload(source);
  }

  async #submit(model, form, webhook, idempotencyKey) {
    const body = JSON.stringify(compact({ webhook, formState: form }));
    const response = await this.#request("POST", `/api/v1/${model}`, {
      body, headers: { "Content-Type": "application/json", "Idempotency-Key": idempotencyKey ?? randomUUID() },
    });
    return { ...(await response.json()), model };
  }

  #headers() {
    return { Authorization: `Bearer ${this.apiKey}`, "User-Agent": USER_AGENT };
  }

  /** The successful answer, after the retries the rules allow; otherwise the typed error. */
  async #request(method, path, { body, headers = {}, safe = true } = {}) {
    for (let attempt = 0; ; attempt += 1) {
      const response = await this.#fetchRetrying(`${this.baseUrl}${path}`,
        { method, body, headers: { ...this.#headers(), ...headers } }, safe);
      if (response.ok) return response;
      const error = await errorOf(response);
      const wait = this.#retryWait(error, safe, attempt);
      if (wait === null) throw error;
      await sleep(wait);
    }
  }

  #retryWait(error, safe, attempt) {
    if (attempt >= this.maxRetries) return null;
    if (error instanceof RateLimited || (error.status === 503 && safe)) {
      if (error.retryAfter === null) return backoff(attempt);
      return error.retryAfter <= this.maxRetryWait ? error.retryAfter * 1000 : null;
    }
    return null;
  }

  /** fetch, retried on connection errors (any, for requests `safe` to repeat; else only refusals). */
  async #fetchRetrying(url, init, safe) {
    for (let attempt = 0; ; attempt += 1) {
      try {
        return await fetch(url, { ...init, signal: AbortSignal.timeout(this.timeout) });
      } catch (error) {
        const refused = error?.cause?.code === "ECONNREFUSED";
        if (attempt >= this.maxRetries || !(safe || refused)) {
          throw new APIConnectionError(`${init.method} ${url}: ${error.cause?.message ?? error.message}`);
        }
        await sleep(backoff(attempt));
      }
    }
  }
}

class NoEventStream extends Error {}
