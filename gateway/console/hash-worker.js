// Hashes slices of a File off the page's thread: each slice is read from disk on its
// own and digested with WebCrypto, so a multi-GiB file is never in memory at once and
// the page stays responsive. One message per slice, in order, as soon as it is done, so
// that the uploader sends part n while part n+1 is being hashed.
//
// In:  {job, file, slices: [{n, start, end}]}
// Out: {job, n, sha} per slice (sha: hex), then {job, done: true}; or {job, error}.

self.onmessage = async (ev) => {
  const { job, file, slices } = ev.data;
  try {
    for (const { n, start, end } of slices) {
      const buf = await file.slice(start, end).arrayBuffer();
      const digest = await crypto.subtle.digest("SHA-256", buf);
      const sha = Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
      self.postMessage({ job, n, sha });
    }
    self.postMessage({ job, done: true });
  } catch (e) {
    self.postMessage({ job, error: String(e) });
  }
};
