// The JavaScript SDK against a real stack: `lipsync dev` (Redis, job service, worker, webhook
// role, proxy) on loopback, started from this repository's Python environment (LIPSYNC_PYTHON,
// else .venv/bin/python), real renders, a webhook receiver on loopback. Run: node --test clients/js/test/

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { createServer } from "node:http";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import {
  AuthenticationError, Client, InsufficientCredits, InvalidRequest, InvalidSignature, NotFound,
  RateLimited, verifyWebhook,
} from "../index.js";

const ROOT = resolve(fileURLToPath(import.meta.url), "../../../..");
const PYTHON = process.env.LIPSYNC_PYTHON ?? join(ROOT, ".venv/bin/python");
const UNKNOWN = "0b7c1f9e-5a9c-4d0e-9a7e-6f2f2b1d9c11";
const UNREACHABLE = "http://127.0.0.1:9/face.png";

let work, dev, base, redisUrl, mainKey, secret, receiver;
const deliveries = [];

function python(args, env = {}) {
  return execFileSync(PYTHON, args, { cwd: ROOT, env: { ...process.env, ...env }, encoding: "utf8" });
}

function newKey(credits = 1000) {
  const out = python(["-m", "services.cli", "keys", "create", "--name", "js", "--credits", String(credits), "--json"],
    { LIPSYNC_REDIS_URL: redisUrl });
  return JSON.parse(out).api_key;
}

async function freePort() {
  const server = createServer();
  await new Promise((done) => server.listen(0, "127.0.0.1", done));
  const { port } = server.address();
  await new Promise((done) => server.close(done));
  return port;
}

before(async () => {
  work = mkdtempSync(join(tmpdir(), "lipsync-js-"));
  python(["-c", `from services.devtools import samples
samples.save_image(${JSON.stringify(join(work, "face.png"))}, samples.astronaut())
samples.save_speech(${JSON.stringify(join(work, "speech.wav"))}, "Hello there. Bob made a big map of the moon, and people loved it.")`]);
  receiver = createServer((request, response) => {
    const chunks = [];
    request.on("data", (chunk) => chunks.push(chunk));
    request.on("end", () => {
      deliveries.push({ headers: request.headers, body: Buffer.concat(chunks) });
      response.writeHead(200, { "Content-Type": "application/json" }).end('{"received": true}');
    });
  });
  await new Promise((done) => receiver.listen(0, "127.0.0.1", done));
  dev = spawn(PYTHON, ["-m", "services.cli", "dev", "--port", String(await freePort()), "--data-dir", join(work, "data")],
    { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] });
  let text = "";
  await new Promise((done, fail) => {
    const timer = setTimeout(() => fail(new Error(`lipsync dev did not start:\n${text}`)), 120_000);
    dev.on("exit", (code) => fail(new Error(`lipsync dev exited (${code}):\n${text}`)));
    dev.stdout.on("data", (chunk) => {
      text += chunk;
      if (text.includes("Local development")) {
        clearTimeout(timer);
        done();
      }
    });
  });
  dev.stdout.resume();
  base = text.match(/API at (\S+)/)[1];
  redisUrl = text.match(/Redis:\s+(\S+)/)[1];
  mainKey = text.match(/API key: (sk_\S+)/)[1];
  secret = text.match(/Webhook secret: (whsec_\S+)/)[1];
  for (let i = 0; i < 300; i += 1) {
    if ((await fetch(`${base}/readyz`).catch(() => null))?.ok) return;
    await new Promise((done) => setTimeout(done, 200));
  }
  throw new Error("the stack did not become ready");
});

after(async () => {
  if (dev && dev.exitCode === null) {
    dev.removeAllListeners("exit");
    const exited = new Promise((done) => dev.on("exit", done));
    dev.kill("SIGTERM");
    await exited;
  }
  receiver?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

const withoutLink = (job) => ({ ...job, output: job.output?.split("?")[0] });

test("submit local files, follow progress, download an MP4, verify the webhook", async () => {
  const client = new Client({ baseUrl: base, apiKey: mainKey });
  const { port } = receiver.address();
  const submitted = await client.lipsyncImage({
    image: join(work, "face.png"), audio: join(work, "speech.wav"), seed: 7,
    webhook: `http://127.0.0.1:${port}/webhooks/lipsync`,
  });
  assert.equal(submitted.status, "processing");
  const seen = [];
  const job = await client.wait(submitted.id, { onProgress: (j) => seen.push(j), timeout: 300_000 });
  assert.equal(job.status, "completed", job.error);
  assert.deepEqual(withoutLink(job), withoutLink(await client.getJob(job.id)));
  const progress = seen.map((j) => j.progress);
  assert.ok(new Set(progress).size >= 3, `progress seen: ${progress}`);
  assert.deepEqual(progress, [...progress].sort((a, b) => a - b));
  assert.equal(seen.at(-1).progress, 1);

  const out = join(work, "out.mp4");
  assert.equal(await client.download(job, out), out);
  const mp4 = readFileSync(out);
  assert.ok(mp4.length > 10_000 && mp4.subarray(4, 8).toString() === "ftyp");

  for (let i = 0; i < 300 && !deliveries.length; i += 1) await new Promise((done) => setTimeout(done, 100));
  const { headers, body } = deliveries.at(-1);
  const delivered = verifyWebhook(body, headers, secret);
  assert.equal(delivered.id, job.id);
  assert.equal(delivered.status, "completed");
  assert.throws(() => verifyWebhook(Buffer.from(body.toString().replace("completed", "failed")), headers, secret),
    InvalidSignature);
  assert.throws(() => verifyWebhook(body, headers, secret, { now: Date.now() / 1000 + 3600 }), InvalidSignature);
  assert.throws(() => verifyWebhook(body, { ...headers, "webhook-signature": "v1,AAAA" }, secret), InvalidSignature);
});

test("typed errors: 401, 402, 404 (another account's job too), 400 with the field, 429 with retryAfter", async () => {
  await assert.rejects(new Client({ baseUrl: base, apiKey: "sk_nope_nope" }).account(),
    (error) => error instanceof AuthenticationError && error.status === 401);
  await assert.rejects(new Client({ baseUrl: base, apiKey: newKey(0) }).lipsyncImage({ image: UNREACHABLE, audio: UNREACHABLE }),
    (error) => error instanceof InsufficientCredits && error.status === 402);
  const client = new Client({ baseUrl: base, apiKey: newKey(), maxRetries: 0 });
  await assert.rejects(client.getJob(UNKNOWN), (error) => error instanceof NotFound && error.code === "not_found");
  const theirs = await new Client({ baseUrl: base, apiKey: mainKey }).lipsyncImage({ image: UNREACHABLE, audio: UNREACHABLE });
  await assert.rejects(client.getJob(theirs.id), NotFound);
  await assert.rejects(client.wait(theirs.id, { timeout: 10_000 }), NotFound);
  const bad = { image: UNREACHABLE, audio: UNREACHABLE, resolution: "1080p" };
  await assert.rejects(client.lipsyncImage(bad),
    (error) => error instanceof InvalidRequest && error.field === "formState.resolution" && error.status === 400);
  // `lipsync dev` allows 60 submits a minute per key; refused ones count too.
  let limited = null;
  for (let i = 0; i < 62 && !limited; i += 1) {
    await client.lipsyncImage(bad).catch((error) => {
      if (error instanceof RateLimited) limited = error;
      else assert.ok(error instanceof InvalidRequest);
    });
  }
  assert.ok(limited, "no 429 after the budget was spent");
  assert.equal(limited.status, 429);
  assert.ok(limited.retryAfter >= 1 && limited.retryAfter <= 2, String(limited.retryAfter));
});

/** A loopback relay to the stack that cuts the first event stream after its first event, or
 * answers 404 for event streams (an older server), and records the Last-Event-ID it is sent. */
async function faultyRelay({ noEvents = false } = {}) {
  const resumedFrom = [];
  let cut = false;
  const relay = createServer(async (request, response) => {
    const chunks = [];
    for await (const chunk of request) chunks.push(chunk);
    const isEvents = request.url.endsWith("/events");
    if (isEvents && noEvents) {
      response.writeHead(404, { "Content-Type": "application/json" })
        .end('{"error": "No such route", "code": "not_found"}');
      return;
    }
    if (isEvents) resumedFrom.push(request.headers["last-event-id"] ?? null);
    const headers = { ...request.headers };
    delete headers.host;
    delete headers.connection;
    const upstream = await fetch(`${base}${request.url}`, {
      method: request.method, headers, body: chunks.length ? Buffer.concat(chunks) : undefined,
    });
    response.writeHead(upstream.status, Object.fromEntries(upstream.headers));
    if (!upstream.body) return response.end();
    let text = "";
    for await (const chunk of upstream.body) {
      text += Buffer.from(chunk).toString();
      if (isEvents && !cut && text.includes("\n\n")) {
        cut = true; // the first event goes out, then the connection drops mid-stream
        response.write(chunk, () => response.socket.destroy());
        return;
      }
      response.write(chunk);
    }
    response.end();
  });
  await new Promise((done) => relay.listen(0, "127.0.0.1", done));
  return { url: `http://127.0.0.1:${relay.address().port}`, resumedFrom, close: () => relay.close() };
}

test("wait() resumes a cut stream after the last event, and polls a server without streams", async () => {
  const relay = await faultyRelay();
  try {
    const client = new Client({ baseUrl: relay.url, apiKey: mainKey });
    const submitted = await client.lipsyncImage({ image: join(work, "face.png"), audio: join(work, "speech.wav") });
    const seen = [];
    const job = await client.wait(submitted, { onProgress: (j) => seen.push(JSON.stringify(j)), timeout: 300_000 });
    assert.equal(job.status, "completed");
    assert.ok(relay.resumedFrom.length >= 2, String(relay.resumedFrom));
    assert.equal(relay.resumedFrom[0], null);
    assert.match(relay.resumedFrom[1], /^\d+$/);
    assert.equal(new Set(seen).size, seen.length); // no change reported twice
  } finally {
    relay.close();
  }
  const older = await faultyRelay({ noEvents: true });
  try {
    const client = new Client({ baseUrl: older.url, apiKey: mainKey, pollInterval: 200 });
    const submitted = await client.lipsyncImage({ image: UNREACHABLE, audio: UNREACHABLE });
    const seen = [];
    const job = await client.wait(submitted.id, { onProgress: (j) => seen.push(j.status), timeout: 120_000 });
    assert.equal(job.status, "failed");
    assert.equal(seen.at(-1), "failed");
    await assert.rejects(client.wait(UNKNOWN, { timeout: 10_000 }), NotFound);
  } finally {
    older.close();
  }
});
