// The fastgate console: sign in, browse buckets and folders, upload (upload.js),
// download, delete, object details, and the dedup page (dedup.js).
//
// Credentials live in sessionStorage only (this tab, until it closes or the user signs
// out); every S3 request is signed in the page (sigv4.js). Pages are addressed by the
// URL's fragment (#/bucket/folder/), so a reload comes back to the same place.

import { S3 } from "./s3.js";
import { abortPending, pendingUploads, upload } from "./upload.js";
import { showDedup, startSampling, stopDedup, stopSampling } from "./dedup.js";

const CREDS = "fastgate.credentials";
let s3 = null;
let config = null;

/** Builds an element: h("a", {href: "#", onclick: f}, "text", child, ...). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

export function formatBytes(n) {
  if (!Number.isFinite(n)) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(n < 10 ? 2 : 1)} ${units[i]}`;
}

const main = () => document.getElementById("main");

function notice(text, kind = "error") {
  const box = document.getElementById("notice");
  box.replaceChildren(text ? h("div", { class: `notice ${kind}`, role: "status" }, text) : "");
}

function fail(e) {
  notice(e instanceof Error ? e.message : String(e));
}

// ---------------------------------------------------------------------------------------
// sign in

function signInView() {
  const form = h("form", { class: "card signin", id: "signin-form" },
    h("h2", {}, "Sign in"),
    h("p", { class: "muted" }, "With an access key and its secret, as for any S3 client. The secret stays in this tab: it signs requests here and is never sent."),
    h("label", {}, "Access key", h("input", { id: "access-key", autocomplete: "username", required: true })),
    h("label", {}, "Secret key", h("input", { id: "secret-key", type: "password", autocomplete: "current-password", required: true })),
    h("button", { id: "sign-in", type: "submit" }, "Sign in"),
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const creds = {
      accessKey: document.getElementById("access-key").value.trim(),
      secretKey: document.getElementById("secret-key").value,
    };
    const candidate = new S3(creds, config);
    try {
      await candidate.listBuckets();
    } catch (e) {
      notice(e.status === 403 ? "These keys are not accepted by the server." : `Sign-in failed: ${e.message}`);
      return;
    }
    sessionStorage.setItem(CREDS, JSON.stringify(creds));
    s3 = candidate;
    notice("");
    render();
  });
  document.getElementById("user").replaceChildren();
  document.querySelector(".layout").classList.add("solo");
  main().replaceChildren(form);
}

function signOut() {
  stopSampling();
  sessionStorage.removeItem(CREDS);
  s3 = null;
  location.hash = "#/";
  render();
}

// ---------------------------------------------------------------------------------------
// browsing

/** "#/bucket/a/b/" -> {bucket: "bucket", prefix: "a/b/"}; "#dedup" -> {dedup: true}. */
function place() {
  const frag = decodeURIComponent(location.hash.replace(/^#/, ""));
  if (frag === "dedup") return { dedup: true };
  const path = frag.replace(/^\//, "");
  const slash = path.indexOf("/");
  if (!path) return { bucket: null, prefix: "" };
  return slash < 0 ? { bucket: path, prefix: "" } : { bucket: path.slice(0, slash), prefix: path.slice(slash + 1) };
}

function link(bucket, prefix) {
  return "#/" + (bucket ? encodeURIComponent(bucket) + "/" + prefix.split("/").map(encodeURIComponent).join("/") : "");
}

function breadcrumbs(bucket, prefix) {
  const crumbs = [h("a", { href: "#/" }, "Buckets")];
  if (bucket) {
    crumbs.push(" / ", h("a", { href: link(bucket, "") }, bucket));
    let acc = "";
    for (const seg of prefix.split("/").filter(Boolean)) {
      acc += seg + "/";
      crumbs.push(" / ", h("a", { href: link(bucket, acc) }, seg));
    }
  }
  return h("nav", { class: "crumbs" }, crumbs);
}

async function bucketsView() {
  const buckets = await s3.listBuckets();
  const name = h("input", { id: "new-bucket-name", placeholder: "new-bucket-name", pattern: "[a-z0-9][a-z0-9.\\-]{1,61}[a-z0-9]", required: true });
  const create = h("form", { class: "inline" }, name, h("button", { id: "create-bucket", type: "submit" }, "Create bucket"));
  create.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      await s3.createBucket(name.value.trim());
      notice(`Bucket ${name.value.trim()} created.`, "ok");
      render();
    } catch (e) {
      fail(e);
    }
  });
  const rows = buckets.map((b) => h("tr", { "data-bucket": b.name },
    h("td", {}, h("a", { href: link(b.name, ""), class: "folder" }, b.name)),
    h("td", { class: "muted" }, b.created ? new Date(b.created).toLocaleString() : ""),
    h("td", { class: "actions" }, h("button", {
      class: "danger small",
      onclick: async () => {
        if (!confirm(`Delete the bucket ${b.name}? It must be empty.`)) return;
        try {
          await s3.deleteBucket(b.name);
          notice(`Bucket ${b.name} deleted.`, "ok");
          render();
        } catch (e) {
          fail(e);
        }
      },
    }, "Delete")),
  ));
  main().replaceChildren(
    breadcrumbs(null, ""),
    h("section", { class: "card" },
      h("div", { class: "toolbar" }, h("h2", {}, "Buckets"), create),
      rows.length ? h("table", { class: "list" }, h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", {}, "Created"), h("th", {}))), h("tbody", {}, rows))
        : h("p", { class: "muted" }, "No bucket yet: create one."),
    ),
    pendingPanel(),
  );
}

async function objectsView(bucket, prefix) {
  const { folders, objects } = await s3.list(bucket, prefix);
  const input = h("input", { id: "file-input", type: "file", multiple: true, class: "hidden" });
  input.addEventListener("change", () => {
    startUploads(bucket, prefix, Array.from(input.files));
    input.value = "";
  });
  const rows = [
    ...folders.map((f) => h("tr", { class: "folder-row" },
      h("td", {}, h("a", { href: link(bucket, f), class: "folder" }, f.slice(prefix.length))),
      h("td", {}), h("td", {}), h("td", {}),
    )),
    ...objects.map((o) => h("tr", { "data-key": o.key },
      h("td", {}, h("a", { href: "#", class: "file", onclick: (ev) => { ev.preventDefault(); showDetails(bucket, o.key); } }, o.key.slice(prefix.length))),
      h("td", { class: "num" }, formatBytes(o.size)),
      h("td", { class: "muted" }, new Date(o.modified).toLocaleString()),
      h("td", { class: "actions" },
        h("button", { class: "small download", onclick: () => download(bucket, o.key) }, "Download"),
        h("button", { class: "small danger", onclick: () => removeObject(bucket, o.key) }, "Delete"),
      ),
    )),
  ];
  const listing = h("section", { class: "card drop", id: "listing" },
    h("div", { class: "toolbar" },
      h("h2", {}, prefix ? prefix : bucket),
      h("label", { class: "button", for: "file-input" }, "Upload files"),
      input,
    ),
    rows.length ? h("table", { class: "list" },
      h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", { class: "num" }, "Size"), h("th", {}, "Modified"), h("th", {}))),
      h("tbody", {}, rows))
      : h("p", { class: "muted" }, "Empty. Drop files here or use Upload files."),
  );
  listing.addEventListener("dragover", (ev) => { ev.preventDefault(); listing.classList.add("over"); });
  listing.addEventListener("dragleave", () => listing.classList.remove("over"));
  listing.addEventListener("drop", (ev) => {
    ev.preventDefault();
    listing.classList.remove("over");
    startUploads(bucket, prefix, Array.from(ev.dataTransfer.files));
  });
  main().replaceChildren(breadcrumbs(bucket, prefix), listing, h("div", { id: "details" }), pendingPanel());
}

async function download(bucket, key) {
  try {
    const a = h("a", { href: await s3.downloadUrl(bucket, key), download: key.split("/").pop() });
    document.body.append(a);
    a.click();
    a.remove();
  } catch (e) {
    fail(e);
  }
}

async function removeObject(bucket, key) {
  if (!confirm(`Delete ${key}?`)) return;
  try {
    await s3.deleteObject(bucket, key);
    notice(`${key} deleted.`, "ok");
    render();
  } catch (e) {
    fail(e);
  }
}

async function showDetails(bucket, key) {
  const box = document.getElementById("details");
  try {
    const { headers, tags } = await s3.details(bucket, key);
    const rows = [
      ["Key", key],
      ["Size", `${formatBytes(Number(headers.get("content-length")))} (${headers.get("content-length")} bytes)`],
      ["ETag", headers.get("etag")],
      ["Last modified", headers.get("last-modified")],
      ["Content type", headers.get("content-type")],
    ];
    for (const alg of ["crc32", "crc32c", "crc64nvme", "sha1", "sha256"]) {
      const v = headers.get(`x-amz-checksum-${alg}`);
      if (v) rows.push([`Checksum ${alg.toUpperCase()}`, v + (headers.get("x-amz-checksum-type") ? ` (${headers.get("x-amz-checksum-type")})` : "")]);
    }
    for (const [name, value] of headers) {
      if (name.startsWith("x-amz-meta-")) rows.push([`Metadata ${name.slice(11)}`, value]);
    }
    if (headers.get("x-amz-version-id")) rows.push(["Version", headers.get("x-amz-version-id")]);
    rows.push(["Tags", tags.length ? tags.map(([k, v]) => `${k}=${v}`).join(", ") : "none"]);
    box.replaceChildren(h("section", { class: "card details" },
      h("div", { class: "toolbar" }, h("h2", {}, "Details"), h("button", { class: "small", onclick: () => box.replaceChildren() }, "Close")),
      h("dl", {}, rows.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v ?? "")])),
    ));
  } catch (e) {
    fail(e);
  }
}

// ---------------------------------------------------------------------------------------
// uploads

function uploadsPanel() {
  let panel = document.getElementById("uploads");
  if (!panel) {
    panel = h("section", { class: "card", id: "uploads" }, h("h2", {}, "Uploads"), h("div", { class: "rows" }));
    document.getElementById("side").append(panel);
  }
  return panel.querySelector(".rows");
}

function uploadRow(bucket, key, file) {
  const bar = h("div", { class: "bar" }, h("div", { class: "fill" }), h("div", { class: "fill instant" }));
  const status = h("div", { class: "status muted" }, "hashing…");
  const row = h("div", { class: "upload", "data-key": key, "data-state": "running" },
    h("div", { class: "name" }, h("strong", {}, file.name), h("span", { class: "muted" }, ` → ${bucket}/${key}`)),
    bar, status);
  uploadsPanel().prepend(row);
  const t0 = performance.now();
  return {
    update(p) {
      const done = p.sent + p.instant + p.resumed;
      const total = Math.max(p.total, 1);
      bar.children[0].style.width = `${(100 * (p.sent + p.resumed)) / total}%`;
      bar.children[1].style.width = `${(100 * p.instant) / total}%`;
      const secs = (performance.now() - t0) / 1000;
      const rate = secs > 0 ? p.sent / secs : 0;
      const parts = [`${formatBytes(done)} of ${formatBytes(p.total)}`];
      if (p.sent) parts.push(`${formatBytes(rate)}/s`);
      if (p.instant) parts.push(`instant: ${formatBytes(p.instant)} not sent`);
      if (p.resumed) parts.push(`resumed: ${formatBytes(p.resumed)} already there`);
      status.textContent = parts.join(" · ");
    },
    finish(p) {
      this.update(p);
      const instant = p.sent === 0 && p.instant > 0;
      row.dataset.state = instant ? "instant" : "done";
      row.dataset.sent = String(p.sent);
      status.textContent = (instant ? "instant ✓ (nothing sent) · " : "done ✓ · ") + status.textContent;
    },
    error(e) {
      row.dataset.state = "error";
      status.textContent = `failed: ${e.message}`;
      status.classList.add("error");
    },
  };
}

let queue = Promise.resolve();

function startUploads(bucket, prefix, files) {
  for (const file of files) {
    const key = prefix + file.name;
    const row = uploadRow(bucket, key, file);
    // One file at a time: parts already go out one after another, and a queue keeps
    // "what was sent" readable.
    queue = queue.then(async () => {
      let done = null;
      let failure = null;
      try {
        done = await upload(s3, bucket, key, file, (q) => row.update(q));
      } catch (e) {
        failure = e;
      }
      // The listing first, then the row: a finished row means the listing shows it.
      const here = place();
      if (here.bucket === bucket && here.prefix === prefix) await render();
      if (failure) row.error(failure);
      else row.finish(done);
    });
  }
}

function pendingPanel() {
  const pending = pendingUploads();
  if (!pending.length) return "";
  return h("section", { class: "card", id: "pending" },
    h("h2", {}, "Unfinished uploads"),
    h("p", { class: "muted" }, "Select the same file again for the same folder to resume: only the parts the server lacks are sent."),
    h("ul", {}, pending.map((u) => h("li", { "data-key": u.key },
      h("a", { href: link(u.bucket, u.key.slice(0, u.key.lastIndexOf("/") + 1)) }, `${u.bucket}/${u.key}`),
      h("span", { class: "muted" }, ` · ${u.name}, ${formatBytes(u.size)}, started ${new Date(u.started).toLocaleString()} `),
      h("button", {
        class: "small danger",
        onclick: async () => {
          try {
            await abortPending(s3, u);
            render();
          } catch (e) {
            fail(e);
          }
        },
      }, "Abort"),
    ))),
  );
}

// ---------------------------------------------------------------------------------------

async function render() {
  stopDedup();
  if (!s3) return signInView();
  document.querySelector(".layout").classList.remove("solo");
  startSampling(s3);
  document.getElementById("user").replaceChildren(
    h("a", { href: "#/", class: "nav" }, "Buckets"),
    h("a", { href: "#dedup", class: "nav", id: "nav-dedup" }, "Dedup"),
    h("span", { class: "muted" }, s3.creds.accessKey),
    h("button", { class: "small", id: "sign-out", onclick: signOut }, "Sign out"),
  );
  const p = place();
  try {
    if (p.dedup) await showDedup(s3, main());
    else if (!p.bucket) await bucketsView();
    else await objectsView(p.bucket, p.prefix);
  } catch (e) {
    if (e.status === 403 && e.code === "InvalidAccessKeyId") return signOut();
    fail(e);
  }
}

async function start() {
  if (!window.crypto?.subtle) {
    main().replaceChildren(h("section", { class: "card" }, h("h2", {}, "This page needs a secure context"),
      h("p", {}, "The console signs requests with WebCrypto, which browsers offer only over HTTPS or on loopback (127.0.0.1, localhost). Serve the console with TLS, or open it through an SSH tunnel.")));
    return;
  }
  config = await (await fetch("config.json", { cache: "no-store" })).json();
  const saved = sessionStorage.getItem(CREDS);
  if (saved) s3 = new S3(JSON.parse(saved), config);
  window.addEventListener("hashchange", () => {
    notice("");
    render();
  });
  render();
}

start();
