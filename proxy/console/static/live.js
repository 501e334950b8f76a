// The console's live page: a live session (POST /console/api/live), the browser's microphone
// or an audio file as the WebRTC audio track, the portrait's video (and the same voice) back.
"use strict";
(() => {
  const form = document.getElementById("live");
  if (!form) return;
  const $ = (id) => document.getElementById(id);
  const msg = (name, values = {}) =>
    (form.dataset["msg" + name[0].toUpperCase() + name.slice(1)] || name).replace(/\{(\w+)\}/g, (_, k) => values[k] ?? "");
  const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content || "";
  let pc = null;
  let sessionId = null;
  let stopSource = () => {};

  function status(text, isError = false) {
    $("live-status").textContent = isError ? "" : text;
    $("live-error").hidden = !isError;
    $("live-error").textContent = isError ? text : "";
  }

  async function call(url, options) {
    const reply = await fetch(url, { credentials: "same-origin", ...options,
      headers: { "X-CSRF-Token": csrf(), ...(options.headers || {}) } });
    if (!reply.ok) {
      const data = await reply.json().catch(() => ({}));
      throw new Error(data.error || `${msg("error")} (${reply.status})`);
    }
    return reply;
  }

  async function portraitUrl() {
    const file = form.elements["image_file"].files[0];
    if (file) {
      status(msg("uploading", { name: file.name }));
      return (await (await call("/console/api/files", { method: "POST", body: file })).json()).url;
    }
    const url = form.elements["image_url"].value.trim();
    if (!url) throw new Error(msg("missing", { name: form.querySelector('[data-field="image"] legend').textContent }));
    return url;
  }

  async function voiceTrack() {
    if (form.elements["source"].value === "file") {
      const file = form.elements["voice_file"].files[0];
      if (!file) throw new Error(msg("missing", { name: form.elements["voice_file"].closest("label").textContent.trim() }));
      const audio = new Audio(URL.createObjectURL(file));
      const context = new AudioContext();
      const sink = context.createMediaStreamDestination();
      context.createMediaElementSource(audio).connect(sink);
      await audio.play();
      stopSource = () => { audio.pause(); context.close(); };
      return sink.stream.getAudioTracks()[0];
    }
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    stopSource = () => stream.getTracks().forEach((t) => t.stop());
    return stream.getAudioTracks()[0];
  }

  function gathered(connection) {
    // No trickle ICE: the offer goes out with every candidate in it.
    if (connection.iceGatheringState === "complete") return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => { if (connection.iceGatheringState === "complete") resolve(); };
      connection.addEventListener("icegatheringstatechange", done);
      setTimeout(resolve, 3000);
    });
  }

  async function start() {
    status(msg("connecting"));
    const image = await portraitUrl();
    const created = await (await call("/console/api/live", { method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ formState: { image, resolution: form.elements["resolution"].value } }) })).json();
    sessionId = created.id;
    pc = new RTCPeerConnection();
    const shown = new MediaStream();
    $("live-video").srcObject = shown;
    pc.addEventListener("track", (event) => shown.addTrack(event.track));
    pc.addEventListener("connectionstatechange", () => {
      if (pc && pc.connectionState === "connected") status(msg("live"));
      if (pc && ["failed", "closed", "disconnected"].includes(pc.connectionState)) finish();
    });
    pc.addTrack(await voiceTrack());
    pc.addTransceiver("video", { direction: "recvonly" });
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    const answer = await (await call(`/console/api/live/${encodeURIComponent(sessionId)}/whip`, {
      method: "POST", headers: { "Content-Type": "application/sdp" }, body: pc.localDescription.sdp })).text();
    await pc.setRemoteDescription({ type: "answer", sdp: answer });
    $("live-stop").disabled = false;
  }

  function finish() {
    stopSource();
    stopSource = () => {};
    if (pc) pc.close();
    pc = null;
    $("live-stop").disabled = true;
    form.querySelector('button[type="submit"]').disabled = false;
    status(msg("ended"));
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    form.querySelector('button[type="submit"]').disabled = true;
    try {
      await start();
    } catch (error) {
      finish();
      status(error.message, true);
    }
  });

  $("live-stop").addEventListener("click", async () => {
    const id = sessionId;
    finish();
    if (id) await call(`/console/api/live/${encodeURIComponent(id)}`, { method: "DELETE" }).catch(() => {});
  });
})();
