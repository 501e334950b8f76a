// The console's one script (no framework, no build step). Pages work without it except the
// playground; it adds copy buttons, the revoke confirmation and the playground. Translated
// strings come from data-msg-* attributes the server rendered in the page's language.
"use strict";

const csrfToken = () => document.querySelector('meta[name="csrf-token"]')?.content || "";

// -- copy buttons -------------------------------------------------------------------------------
function copyText(text, button) {
  const done = () => {
    const label = button.textContent;
    button.textContent = button.dataset.copied || label;
    setTimeout(() => { button.textContent = label; }, 1500);
  };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done, () => {});
  } else {  // plain-http deployments: the older selection-based copy
    const area = document.createElement("textarea");
    area.value = text;
    document.body.appendChild(area);
    area.select();
    document.execCommand("copy");
    area.remove();
    done();
  }
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-copy]");
  if (button) {
    const source = document.querySelector(button.dataset.copy);
    if (source) { source.select?.(); copyText(source.value || source.textContent, button); }
  }
});

// -- revoke confirmation ------------------------------------------------------------------------
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!form.dataset.confirm) return;
  if (!window.confirm(form.dataset.confirm)) { event.preventDefault(); return; }
  form.querySelector('input[name="confirm"]').value = "yes";
});

// -- playground ---------------------------------------------------------------------------------
const FIELDS = {
  "lipsync-image": ["image", "audio", "mask_image"],
  "lipsync-video": ["video", "audio", "mask_image"],
  "lipsync-image-multi": ["image", "left_audio", "right_audio"],
};
const REQUIRED = {
  "lipsync-image": ["image", "audio"],
  "lipsync-video": ["video", "audio"],
  "lipsync-image-multi": ["image", "left_audio", "right_audio"],
};
const POLL_MS = 1000;

function setupPlayground(form) {
  const msg = (name, vars = {}) =>
    (form.dataset["msg" + name[0].toUpperCase() + name.slice(1)] || name).replace(/\{(\w+)\}/g, (_, k) => vars[k] ?? "");
  const $ = (id) => document.getElementById(id);
  const uploaded = {};  // field -> signed URL of the file uploaded for it

  const model = () => form.querySelector('input[name="model"]:checked').value;
  const showFields = () => {
    const current = model();
    form.querySelectorAll("[data-models]").forEach((el) => {
      el.hidden = !el.dataset.models.split(" ").includes(current);
    });
    renderCode();
  };

  const urlOf = (field) => form.elements[`${field}_url`]?.value.trim() || "";
  const fileOf = (field) => form.elements[`${field}_file`]?.files?.[0] || null;

  function body(urls) {
    const formState = {};
    for (const field of FIELDS[model()]) {
      const value = urls[field];
      if (value) formState[field] = value;
    }
    formState.resolution = form.elements.resolution.value;
    if (model() === "lipsync-image-multi") formState.order = form.elements.order.value;
    const seed = form.elements.seed.value.trim();
    if (seed !== "") formState.seed = Number(seed);
    const prompt = form.elements.prompt.value.trim();
    if (prompt) formState.prompt = prompt;
    const request = { formState };
    const webhook = form.elements.webhook.value.trim();
    if (webhook) request.webhook = webhook;
    return request;
  }

  // "Show code": the same request as curl, Node (the original docs' style) and Python.
  function renderCode() {
    const urls = {};
    for (const field of FIELDS[model()]) {
      urls[field] = urlOf(field) || uploaded[field] || (fileOf(field) ? `<${msg("uploadedFile")}>` : "");
    }
    const request = body(urls);
    const json = JSON.stringify(request, null, 2);
    const base = form.dataset.baseUrl;
    $("code-curl").textContent =
      `curl -X POST ${base}/api/v1/${model()} \\\n  -H "Authorization: Bearer $LIPSYNC_API_KEY" \\\n` +
      `  -H "Content-Type: application/json" \\\n  -d '${json.replace(/'/g, "'\\''")}'`;
    $("code-node").textContent =
      `import fetch from 'node-fetch';\n\nconst API_KEY = 'Bearer sk_XXXX_YYYY';\nconst BASE_URL = '${base}/api/v1';\n\n` +
      `const res = await fetch(\`\${BASE_URL}/${model()}\`, {\n  method: 'POST',\n  headers: {\n` +
      `    'Content-Type': 'application/json',\n    'Authorization': API_KEY\n  },\n` +
      `  body: JSON.stringify(${json.replace(/\n/g, "\n  ")})\n});\nconst data = await res.json();\n` +
      `console.log('Job submitted:', data.id);`;
    const py = json.replace(/\btrue\b/g, "True").replace(/\bfalse\b/g, "False").replace(/\bnull\b/g, "None");
    $("code-python").textContent =
      `import os\nimport httpx\n\nreply = httpx.post(\n    "${base}/api/v1/${model()}",\n` +
      `    headers={"Authorization": f"Bearer {os.environ['LIPSYNC_API_KEY']}"},\n` +
      `    json=${py.replace(/\n/g, "\n    ")},\n)\nreply.raise_for_status()\nprint("Job submitted:", reply.json()["id"])`;
  }

  async function call(url, options) {
    const reply = await fetch(url, { credentials: "same-origin", ...options,
      headers: { "X-CSRF-Token": csrfToken(), ...(options.headers || {}) } });
    const data = await reply.json().catch(() => ({}));
    if (!reply.ok) throw new Error(data.error || `${msg("error")} (${reply.status})`);
    return data;
  }

  function status(text, isError = false) {
    $("job-status").textContent = text;
    $("job-error").hidden = !isError;
    if (isError) $("job-error").textContent = text;
  }

  async function follow(id) {
    for (;;) {
      const job = await call(`/console/api/jobs/${encodeURIComponent(id)}`, { method: "GET" });
      $("job-progress").value = job.progress || 0;
      if (job.status === "completed") {
        status(msg("completed"));
        const video = $("result-video");
        video.src = job.output;
        video.hidden = false;
        const link = $("result-download");
        link.href = job.output;
        link.hidden = false;
        return;
      }
      if (job.status === "failed") { status(`${msg("failed")}: ${job.error}`, true); return; }
      status(`${msg("processing")} ${Math.round((job.progress || 0) * 100)}%`);
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }

  form.addEventListener("change", (event) => {
    if (event.target.type === "file") {
      delete uploaded[event.target.name.replace(/_file$/, "")];
      const name = event.target.closest(".file-pick")?.querySelector("[data-file-name]");
      if (name) {
        name.dataset.empty ??= name.textContent;
        name.textContent = event.target.files[0]?.name || name.dataset.empty;
      }
    }
    showFields();
  });
  form.addEventListener("input", renderCode);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector('[data-testid="submit-job"]');
    button.disabled = true;
    $("result-video").hidden = true;
    $("result-download").hidden = true;
    $("job-progress").value = 0;
    $("job-id").textContent = "";
    try {
      const urls = {};
      for (const field of FIELDS[model()]) {
        const file = fileOf(field);
        if (file && !urlOf(field)) {
          if (!uploaded[field]) {
            status(msg("uploading", { name: file.name }));
            uploaded[field] = (await call("/console/api/files", { method: "POST", body: file,
              headers: { "Content-Type": "application/octet-stream" } })).url;
          }
          urls[field] = uploaded[field];
        } else if (urlOf(field)) {
          urls[field] = urlOf(field);
        } else if (REQUIRED[model()].includes(field)) {
          const legend = form.querySelector(`[data-field="${field}"] legend`);
          throw new Error(msg("missing", { name: legend ? legend.firstChild.textContent.trim() : field }));
        }
      }
      renderCode();
      status(msg("submitting"));
      const job = await call("/console/api/jobs", { method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ model: model(), ...body(urls) }) });
      $("job-id").textContent = job.id;
      await follow(job.id);
    } catch (error) {
      status(error.message, true);
    } finally {
      button.disabled = false;
    }
  });

  // Code tabs.
  document.querySelectorAll("[data-tab]").forEach((tab) => tab.addEventListener("click", () => {
    document.querySelectorAll("[data-tab]").forEach((t) => t.setAttribute("aria-selected", String(t === tab)));
    document.querySelectorAll("[data-code]").forEach((pre) => { pre.hidden = pre.dataset.code !== tab.dataset.tab; });
  }));
  document.querySelector("[data-copy-code]")?.addEventListener("click", (event) => {
    const visible = document.querySelector("[data-code]:not([hidden]) code");
    copyText(visible.textContent, event.target);
  });

  showFields();
}

// -- jobs page: processing jobs follow their progress; the page reloads when one ends ----------
function followJobs() {
  const rows = [...document.querySelectorAll('[data-testid="job-row"][data-status="processing"]')];
  if (!rows.length) return;
  const tick = async () => {
    for (const row of rows) {
      const reply = await fetch(`/console/api/jobs/${encodeURIComponent(row.dataset.jobId)}`,
        { credentials: "same-origin" }).catch(() => null);
      if (!reply || !reply.ok) continue;
      const job = await reply.json();
      if (job.status !== "processing") { window.location.reload(); return; }
      row.querySelector("[data-job-progress]").value = job.progress || 0;
      row.querySelector("[data-job-percent]").textContent = `${Math.round((job.progress || 0) * 100)}%`;
    }
    setTimeout(tick, 2 * POLL_MS);
  };
  setTimeout(tick, 2 * POLL_MS);
}

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("playground");
  if (form) setupPlayground(form);
  followJobs();
});
