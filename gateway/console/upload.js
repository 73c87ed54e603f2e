// Uploads like a cloud drive (秒传 and 断点续传):
//
// - The file is hashed (SHA-256) in a Web Worker, slice by slice, never whole in memory.
// - Before any body is sent, the instant-upload probe asks the server to complete the
//   write from content it already holds: for a small file the whole object, for a large
//   one each part, just before that part would be sent. A hit sends nothing.
// - A large file is a multipart upload whose id and part hashes are kept in
//   localStorage under (bucket, key, size, lastModified). After the tab was closed or
//   the network lost, selecting the same file again for the same place resumes it: the
//   parts the server lists (ListParts) are not sent again, the others are probed, then
//   sent.
//
// localStorage holds no credential: only upload ids, names, sizes and part hashes.

import { hexToBase64 } from "./sigv4.js";

const MiB = 1 << 20;
const STATE_PREFIX = "fastgate.upload:";
/** S3 allows 10,000 parts: larger files get larger parts. */
const MAX_PARTS = 10000;

/** The part size of new uploads (MiB): 8, or `?part=N` in the page's URL (N >= 5). */
export function basePartSize() {
  const asked = Number(new URLSearchParams(location.search).get("part"));
  return (Number.isFinite(asked) && asked >= 5 ? Math.floor(asked) : 8) * MiB;
}

function partSizeFor(size) {
  return Math.max(basePartSize(), Math.ceil(size / MAX_PARTS / MiB) * MiB);
}

function stateKey(bucket, key, file) {
  return STATE_PREFIX + JSON.stringify([bucket, key, file.size, file.lastModified]);
}

function load(k) {
  try {
    return JSON.parse(localStorage.getItem(k));
  } catch {
    return null;
  }
}

function save(k, state) {
  localStorage.setItem(k, JSON.stringify(state));
}

/** Unfinished multipart uploads this browser started: [{id, bucket, key, name, size, ...}]. */
export function pendingUploads() {
  const out = [];
  for (let i = 0; i < localStorage.length; i++) {
    const k = localStorage.key(i);
    if (!k.startsWith(STATE_PREFIX)) continue;
    const s = load(k);
    if (s) out.push({ id: k, ...s });
  }
  return out.sort((a, b) => a.started - b.started);
}

/** Aborts an unfinished upload on the server and forgets it. */
export async function abortPending(s3, pending) {
  await s3.abort(pending.bucket, pending.key, pending.uploadId);
  localStorage.removeItem(pending.id);
}

/** Hashes `slices` of `file` in a worker; `get(n)` resolves to slice n's SHA-256 (hex). */
function hashInWorker(file, slices) {
  const worker = new Worker("hash-worker.js");
  const waiting = new Map();
  const results = new Map();
  let failure = null;
  worker.onmessage = (ev) => {
    const { n, sha, done, error } = ev.data;
    if (error || done) {
      if (error) failure = new Error(`hashing ${file.name}: ${error}`);
      worker.terminate();
      for (const [, w] of waiting) (failure ? w.reject(failure) : w.resolve(null));
      return;
    }
    results.set(n, sha);
    const w = waiting.get(n);
    if (w) {
      waiting.delete(n);
      w.resolve(sha);
    }
  };
  worker.postMessage({ job: 1, file, slices });
  return {
    get(n) {
      if (results.has(n)) return Promise.resolve(results.get(n));
      if (failure) return Promise.reject(failure);
      return new Promise((resolve, reject) => waiting.set(n, { resolve, reject }));
    },
    stop() {
      worker.terminate();
    },
  };
}

/**
 * Uploads `file` to bucket/key. `report({sent, instant, resumed, total})` is called as
 * bytes go out or are found stored: `sent` crossed the network, `instant` was completed
 * by the probe, `resumed` was already on the server from an interrupted run.
 */
export async function upload(s3, bucket, key, file, report) {
  const p = { sent: 0, instant: 0, resumed: 0, total: file.size };
  const tell = () => report({ ...p });
  const path = `/${bucket}/${key}`;
  const headers = { "content-type": file.type || "application/octet-stream" };
  const partSize = partSizeFor(file.size);
  const k = stateKey(bucket, key, file);
  if (file.size <= partSize && !load(k)) {
    const hashes = hashInWorker(file, [{ n: 1, start: 0, end: file.size }]);
    const sha = await hashes.get(1);
    tell();
    if (file.size > 0 && (await s3.probe(path, [], sha, file.size, headers)).hit) {
      p.instant = file.size;
    } else {
      await s3.put(path, [], file, sha, headers);
      p.sent = file.size;
    }
    tell();
    return p;
  }

  // Multipart: resume what this browser started for the same file and place, if the
  // server still has it.
  let state = load(k);
  let listed = new Map();
  if (state) {
    try {
      listed = await s3.listParts(bucket, key, state.uploadId);
    } catch (e) {
      if (e.code !== "NoSuchUpload") throw e;
      localStorage.removeItem(k);
      state = null;
    }
  }
  if (!state) {
    const uploadId = await s3.createMultipart(bucket, key, headers["content-type"]);
    state = {
      bucket, key, name: file.name, size: file.size, lastModified: file.lastModified,
      partSize, uploadId, shas: {}, started: Date.now(),
    };
    save(k, state);
  }
  const ps = state.partSize;
  const count = Math.max(1, Math.ceil(file.size / ps));
  const parts = [];
  const todo = [];
  for (let n = 1; n <= count; n++) {
    const start = (n - 1) * ps;
    const end = Math.min(file.size, start + ps);
    const have = listed.get(n);
    const known = state.shas[n] && hexToBase64(state.shas[n]);
    // A listed part counts if it is this slice: same size, and same hash when known.
    if (have && have.size === end - start && (!known || !have.sha || have.sha === known)) {
      parts[n] = { n, etag: have.etag, shaB64: have.sha || known };
      p.resumed += end - start;
    } else {
      todo.push({ n, start, end });
    }
  }
  tell();
  const hashes = hashInWorker(file, todo);
  try {
    for (const { n, start, end } of todo) {
      const sha = await hashes.get(n);
      state.shas[n] = sha;
      save(k, state);
      const query = [["partNumber", String(n)], ["uploadId", state.uploadId]];
      const probed = await s3.probe(path, query, sha, end - start);
      let etag;
      if (probed.hit) {
        etag = probed.etag;
        p.instant += end - start;
      } else {
        etag = await s3.put(path, query, file.slice(start, end), sha);
        p.sent += end - start;
      }
      parts[n] = { n, etag, shaB64: hexToBase64(sha) };
      tell();
    }
  } finally {
    hashes.stop();
  }
  await s3.complete(bucket, key, state.uploadId, parts.filter(Boolean));
  localStorage.removeItem(k);
  return p;
}
