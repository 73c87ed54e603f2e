// A small S3 client for the console: every request signed in the page (sigv4.js) and
// sent same-origin under /s3/, which the console forwards to fastgate's S3 service.

import { EMPTY_SHA256, hexToBase64, presign, sha256Hex, signHeaders } from "./sigv4.js";

export class S3Error extends Error {
  constructor(status, code, message, headers) {
    super(code ? `${code}: ${message || status}` : `HTTP ${status}`);
    this.status = status;
    this.code = code;
    this.headers = headers;
  }
}

function xmlText(node, name) {
  const el = node.getElementsByTagName(name)[0];
  return el ? el.textContent : null;
}

function parseXml(text) {
  return new DOMParser().parseFromString(text, "application/xml");
}

function escapeXml(s) {
  return s.replace(/[<>&'"]/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", "'": "&apos;", '"': "&quot;" })[c]);
}

export class S3 {
  /** creds: {accessKey, secretKey}; config: the console's /config.json. */
  constructor(creds, config) {
    this.creds = creds;
    this.region = config.region;
    this.prefix = config.s3_prefix;
    this.host = location.host;
  }

  /**
   * Sends one signed request. `body` may be a string, an ArrayBuffer or a Blob (a File
   * slice is streamed from disk by the browser); `payloadHash` is its SHA-256 hex (for a
   * Blob it must be given). Resolves to the Response; a non-2xx answer throws S3Error.
   */
  async send(method, path, { query = [], headers = {}, body = null, payloadHash, allow = [] } = {}) {
    if (payloadHash === undefined) {
      payloadHash = body === null ? EMPTY_SHA256 : await sha256Hex(body);
    }
    const signed = await signHeaders({
      creds: this.creds, region: this.region, host: this.host,
      method, path, query, headers, payloadHash,
    });
    const resp = await fetch(this.prefix + signed.pathAndQuery, {
      method, headers: signed.headers, body, cache: "no-store", credentials: "omit",
    });
    if (!resp.ok && !allow.includes(resp.status)) {
      const text = await resp.text();
      const doc = text ? parseXml(text) : null;
      throw new S3Error(resp.status, doc && xmlText(doc, "Code"), doc && xmlText(doc, "Message"), resp.headers);
    }
    return resp;
  }

  async xml(method, path, opts) {
    const resp = await this.send(method, path, opts);
    return parseXml(await resp.text());
  }

  async listBuckets() {
    const doc = await this.xml("GET", "/");
    return Array.from(doc.getElementsByTagName("Bucket"), (b) => ({
      name: xmlText(b, "Name"), created: xmlText(b, "CreationDate"),
    }));
  }

  createBucket(bucket) { return this.send("PUT", `/${bucket}`); }
  deleteBucket(bucket) { return this.send("DELETE", `/${bucket}`); }
  deleteObject(bucket, key) { return this.send("DELETE", `/${bucket}/${key}`); }

  /** One folder level: the common prefixes and objects under `prefix`. */
  async list(bucket, prefix) {
    const folders = [], objects = [];
    let token = null;
    do {
      const query = [["list-type", "2"], ["delimiter", "/"], ["prefix", prefix]];
      if (token) query.push(["continuation-token", token]);
      const doc = await this.xml("GET", `/${bucket}`, { query });
      for (const p of doc.getElementsByTagName("CommonPrefixes")) folders.push(xmlText(p, "Prefix"));
      for (const c of doc.getElementsByTagName("Contents")) {
        objects.push({
          key: xmlText(c, "Key"), size: Number(xmlText(c, "Size")),
          etag: xmlText(c, "ETag"), modified: xmlText(c, "LastModified"),
        });
      }
      token = xmlText(doc, "IsTruncated") === "true" ? xmlText(doc, "NextContinuationToken") : null;
    } while (token);
    return { folders, objects };
  }

  /** HeadObject with checksums, and the object's tags. */
  async details(bucket, key) {
    const head = await this.send("HEAD", `/${bucket}/${key}`, { headers: { "x-amz-checksum-mode": "ENABLED" } });
    const tags = await this.xml("GET", `/${bucket}/${key}`, { query: [["tagging", ""]] });
    return {
      headers: head.headers,
      tags: Array.from(tags.getElementsByTagName("Tag"), (t) => [xmlText(t, "Key"), xmlText(t, "Value")]),
    };
  }

  /** A short-lived URL that downloads the object as a file. */
  async downloadUrl(bucket, key) {
    const name = key.split("/").pop() || "download";
    const query = [["response-content-disposition", `attachment; filename*=UTF-8''${encodeURIComponent(name)}`]];
    const pq = await presign({ creds: this.creds, region: this.region, host: this.host, method: "GET", path: `/${bucket}/${key}`, query });
    return this.prefix + pq;
  }

  /**
   * The instant-upload probe (README, "The instant-upload probe"): asks the server to
   * complete the write from stored content. `target` is the object path and, for a part,
   * its query. Resolves to {hit, etag} for a hit, {hit: false} for a miss, and
   * {hit: false, unknown: true} for any other answer (a server without the probe).
   */
  async probe(path, query, shaHex, size, headers = {}) {
    const resp = await this.send("PUT", path, {
      query,
      headers: { ...headers, "x-amz-checksum-sha256": hexToBase64(shaHex), "x-fastgate-probe": String(size) },
      payloadHash: shaHex,
      allow: [400, 403, 404, 501],
    }).catch((e) => e);
    if (resp instanceof S3Error) throw resp;
    const dedup = resp.headers.get("x-fastgate-dedup");
    if (resp.ok && dedup === "hit") return { hit: true, etag: resp.headers.get("etag") };
    if (resp.status === 404 && dedup === "miss") return { hit: false };
    return { hit: false, unknown: true };
  }

  /** PutObject or UploadPart with the body's SHA-256 signed and declared; the ETag. */
  async put(path, query, body, shaHex, headers = {}) {
    const resp = await this.send("PUT", path, {
      query, body, payloadHash: shaHex,
      headers: { ...headers, "x-amz-checksum-sha256": hexToBase64(shaHex) },
    });
    return resp.headers.get("etag");
  }

  async createMultipart(bucket, key, contentType) {
    const doc = await this.xml("POST", `/${bucket}/${key}`, {
      query: [["uploads", ""]],
      headers: { "x-amz-checksum-algorithm": "SHA256", "content-type": contentType },
    });
    return xmlText(doc, "UploadId");
  }

  /** Every part the server holds for the upload: Map partNumber -> {etag, size, sha}. */
  async listParts(bucket, key, uploadId) {
    const parts = new Map();
    let marker = null;
    do {
      const query = [["uploadId", uploadId]];
      if (marker) query.push(["part-number-marker", marker]);
      const doc = await this.xml("GET", `/${bucket}/${key}`, { query });
      for (const p of doc.getElementsByTagName("Part")) {
        parts.set(Number(xmlText(p, "PartNumber")), {
          etag: xmlText(p, "ETag"), size: Number(xmlText(p, "Size")), sha: xmlText(p, "ChecksumSHA256"),
        });
      }
      marker = xmlText(doc, "IsTruncated") === "true" ? xmlText(doc, "NextPartNumberMarker") : null;
    } while (marker);
    return parts;
  }

  /** parts: [{n, etag, shaB64}] in order. */
  async complete(bucket, key, uploadId, parts) {
    const body = "<CompleteMultipartUpload>" + parts.map((p) =>
      `<Part><PartNumber>${p.n}</PartNumber><ETag>${escapeXml(p.etag)}</ETag><ChecksumSHA256>${p.shaB64}</ChecksumSHA256></Part>`,
    ).join("") + "</CompleteMultipartUpload>";
    const doc = await this.xml("POST", `/${bucket}/${key}`, { query: [["uploadId", uploadId]], body });
    // S3 may answer 200 and report the failure in the body.
    if (doc.documentElement.nodeName === "Error") {
      throw new S3Error(200, xmlText(doc, "Code"), xmlText(doc, "Message"), null);
    }
    return doc;
  }

  abort(bucket, key, uploadId) {
    return this.send("DELETE", `/${bucket}/${key}`, { query: [["uploadId", uploadId]], allow: [404] });
  }

  /** The dedup savings this user may see (fastgate's GET /_fastgate/dedup). */
  async dedup() {
    const resp = await this.send("GET", "/_fastgate/dedup");
    return resp.json();
  }
}
