// verifyWebhook against the Standard Webhooks specification's published test vector (the one
// tests/unit/test_signing.py checks the service's signer with). No stack needed.

import { test } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";

import { InvalidSignature, verifyWebhook } from "../index.js";

const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const ID = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const TIME = 1614265330;
const SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

test("the published vector verifies, in any header case, with a second signature offered", () => {
  const body = '{"test": 2432232314}';
  const headers = { "Webhook-Id": ID, "Webhook-Timestamp": String(TIME), "Webhook-Signature": `v1,bm90IHRoaXM= ${SIGNATURE}` };
  assert.deepEqual(verifyWebhook(body, headers, SECRET, { now: TIME + 5 }), { test: 2432232314 });
  assert.deepEqual(verifyWebhook(Buffer.from(body), new Headers(headers), SECRET, { now: TIME }), { test: 2432232314 });
});

test("tampered, stale, future, unsigned or another secret's: refused", () => {
  const body = '{"test": 2432232314}';
  const headers = { "webhook-id": ID, "webhook-timestamp": String(TIME), "webhook-signature": SIGNATURE };
  const other = "whsec_" + Buffer.from("another secret of ours").toString("base64");
  const cases = [
    ['{"test": 2432232315}', headers, SECRET, TIME],
    [body, headers, SECRET, TIME + 301],
    [body, headers, SECRET, TIME - 301],
    [body, { ...headers, "webhook-signature": "" }, SECRET, TIME],
    [body, { ...headers, "webhook-id": "msg_other" }, SECRET, TIME],
    [body, headers, other, TIME],
  ];
  for (const [b, h, s, now] of cases) assert.throws(() => verifyWebhook(b, h, s, { now }), InvalidSignature);
  // The HMAC is the one the specification defines: of "<id>.<timestamp>.<body>".
  const key = Buffer.from(SECRET.slice(6), "base64");
  const mac = createHmac("sha256", key).update(`${ID}.${TIME}.${body}`).digest("base64");
  assert.equal(`v1,${mac}`, SIGNATURE);
});
