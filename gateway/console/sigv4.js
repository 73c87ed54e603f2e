// AWS Signature Version 4 in the browser, with WebCrypto (SHA-256, HMAC-SHA256).
//
// WebCrypto exists only in secure contexts: pages served over HTTPS or from loopback
// (http://127.0.0.1, http://localhost). The secret key is used here and nowhere else;
// it is never sent.

const enc = new TextEncoder();

/** The SHA-256 of the empty string, the payload hash of a request without a body. */
export const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

export function toHex(buf) {
  return Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, "0")).join("");
}

export function hexToBase64(hex) {
  let bin = "";
  for (let i = 0; i < hex.length; i += 2) bin += String.fromCharCode(parseInt(hex.slice(i, i + 2), 16));
  return btoa(bin);
}

export async function sha256Hex(data) {
  const bytes = typeof data === "string" ? enc.encode(data) : data;
  return toHex(await crypto.subtle.digest("SHA-256", bytes));
}

async function hmac(key, msg) {
  const k = await crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return new Uint8Array(await crypto.subtle.sign("HMAC", k, enc.encode(msg)));
}

/** S3's URI encoding: every byte but the unreserved characters (and "/" when asked). */
export function uriEncode(s, keepSlash) {
  let out = "";
  for (const b of enc.encode(s)) {
    const c = String.fromCharCode(b);
    if (/[A-Za-z0-9\-._~]/.test(c) || (keepSlash && c === "/")) out += c;
    else out += "%" + b.toString(16).toUpperCase().padStart(2, "0");
  }
  return out;
}

/** The canonical query string of [name, value] pairs (values not yet encoded). */
export function canonicalQuery(pairs) {
  return pairs
    .map(([k, v]) => [uriEncode(k, false), uriEncode(v ?? "", false)])
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join("&");
}

function amzDate(now) {
  return now.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
}

async function signingKey(secret, day, region) {
  let k = await hmac(enc.encode("AWS4" + secret), day);
  k = await hmac(k, region);
  k = await hmac(k, "s3");
  return hmac(k, "aws4_request");
}

async function signature(creds, region, date, canonicalRequest) {
  const day = date.slice(0, 8);
  const scope = `${day}/${region}/s3/aws4_request`;
  const toSign = ["AWS4-HMAC-SHA256", date, scope, await sha256Hex(canonicalRequest)].join("\n");
  return { scope, sig: toHex(await hmac(await signingKey(creds.secretKey, day, region), toSign)) };
}

/**
 * Signs a request with headers. `path` is the S3 path, not encoded ("/bucket/key");
 * `headers` are lower-case names, all of which are signed (with host). Returns the
 * encoded path and query to send and the headers to set.
 */
export async function signHeaders({ creds, region, host, method, path, query = [], headers = {}, payloadHash }) {
  const date = amzDate(new Date());
  const all = { ...headers, host, "x-amz-date": date, "x-amz-content-sha256": payloadHash };
  const names = Object.keys(all).map((n) => n.toLowerCase()).sort();
  const lower = Object.fromEntries(Object.entries(all).map(([k, v]) => [k.toLowerCase(), String(v).trim()]));
  const canonicalHeaders = names.map((n) => `${n}:${lower[n]}\n`).join("");
  const signed = names.join(";");
  const encPath = uriEncode(path, true);
  const qs = canonicalQuery(query);
  const canonical = [method, encPath, qs, canonicalHeaders, signed, payloadHash].join("\n");
  const { scope, sig } = await signature(creds, region, date, canonical);
  const out = { ...headers, "x-amz-date": date, "x-amz-content-sha256": payloadHash };
  out.authorization = `AWS4-HMAC-SHA256 Credential=${creds.accessKey}/${scope}, SignedHeaders=${signed}, Signature=${sig}`;
  return { pathAndQuery: qs ? `${encPath}?${qs}` : encPath, headers: out };
}

/** A presigned URL's path and query (GET, host signed only, valid `expires` seconds). */
export async function presign({ creds, region, host, method, path, query = [], expires = 300 }) {
  const date = amzDate(new Date());
  const q = [
    ...query,
    ["X-Amz-Algorithm", "AWS4-HMAC-SHA256"],
    ["X-Amz-Credential", `${creds.accessKey}/${date.slice(0, 8)}/${region}/s3/aws4_request`],
    ["X-Amz-Date", date],
    ["X-Amz-Expires", String(expires)],
    ["X-Amz-SignedHeaders", "host"],
  ];
  const encPath = uriEncode(path, true);
  const canonical = [method, encPath, canonicalQuery(q), `host:${host}\n`, "host", "UNSIGNED-PAYLOAD"].join("\n");
  const { sig } = await signature(creds, region, date, canonical);
  return `${encPath}?${canonicalQuery([...q, ["X-Amz-Signature", sig]])}`;
}
