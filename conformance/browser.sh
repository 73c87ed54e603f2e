#!/usr/bin/env bash
# A browser against fastgate: headless Chromium (Debian's, driven by playwright-core)
# opens a page served from another origin (a second loopback port), which uploads a file
# with a presigned POST form and another with a presigned PUT, then reads both back with
# presigned GETs; every request is cross-origin, so it works only through the bucket's
# CORS rules (the preflight of the PUT, the Access-Control-* headers of every answer,
# the ETag exposed to the page). boto3 makes the URLs and checks what the page saw.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

BUCKET=browser-test

main() {
    step "install Chromium and playwright-core"
    "$FG_CONF_DIR/install-browser.sh" </dev/null || fail "install-browser.sh failed"
    fg_setup
    local page_dir="$FG_TMP/page" page_port cfg="$FG_TMP/browser.json" seen
    mkdir -p "$page_dir"
    page_port="$(fg_free_port)"
    PAGE_ORIGIN="http://127.0.0.1:$page_port"
    export PAGE_ORIGIN BUCKET

    step "the page's origin ($PAGE_ORIGIN)"
    printf '<!doctype html><title>fastgate upload page</title><p>uploader</p>\n' >"$page_dir/index.html"
    python3 -m http.server "$page_port" --bind 127.0.0.1 --directory "$page_dir" >"$FG_TMP/page.log" 2>&1 &
    local page_pid=$!
    fg_on_exit "kill $page_pid 2>/dev/null; wait $page_pid 2>/dev/null"
    for _ in $(seq 1 100); do fg_port_open "$page_port" && break; sleep 0.1; done
    fg_port_open "$page_port" || fail "the page server did not start"

    step "bucket, CORS rule for the page, presigned POST/PUT/GET (boto3)"
    python3 - "$cfg" <<'EOF' || fail "setting up the bucket and the URLs with boto3"
import json, os, sys
import boto3
from botocore.config import Config
s3 = boto3.client("s3", endpoint_url=os.environ["FG_ENDPOINT"], region_name="us-east-1",
                  config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
b, origin = os.environ["BUCKET"], os.environ["PAGE_ORIGIN"]
s3.create_bucket(Bucket=b)
s3.put_bucket_cors(Bucket=b, CORSConfiguration={"CORSRules": [{
    "AllowedOrigins": [origin], "AllowedMethods": ["GET", "PUT", "POST"],
    "AllowedHeaders": ["*"], "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 60}]})
post = s3.generate_presigned_post(b, "browser/post.bin", Fields={"success_action_status": "201"},
                                  Conditions=[{"success_action_status": "201"},
                                              ["content-length-range", 1, 8 << 20]], ExpiresIn=600)
url = lambda op, key: s3.generate_presigned_url(op, Params={"Bucket": b, "Key": key}, ExpiresIn=600)
json.dump({"pageUrl": origin + "/index.html", "size": 300_000, "post": post,
           "putUrl": url("put_object", "browser/put.bin"),
           "getPostUrl": url("get_object", "browser/post.bin"),
           "getPutUrl": url("get_object", "browser/put.bin")}, open(sys.argv[1], "w"))
EOF

    step "Chromium: upload with POST and PUT, read back through CORS"
    seen="$(cd "$FG_CONF_DIR/browser" && timeout --kill-after=10 180 node cors-upload.js "$cfg")" \
        || fail "the browser run failed or timed out"
    log "the page saw: $(cut -c1-600 <<<"$seen")"

    step "what the page saw, against boto3"
    SEEN="$seen" python3 - <<'EOF' || fail "the browser's results differ from what fastgate stored"
import hashlib, json, os
import boto3
from botocore.config import Config
seen = json.loads(os.environ["SEEN"])
s3 = boto3.client("s3", endpoint_url=os.environ["FG_ENDPOINT"], region_name="us-east-1",
                  config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
b = os.environ["BUCKET"]
bad = []
def check(what, want, got):
    line = f"{what}: expected {want!r}, got {got!r}"
    print(("  ok   " if want == got else "  FAIL ") + line, flush=True)
    if want != got:
        bad.append(line)
check("page origin", os.environ["PAGE_ORIGIN"], seen["origin"])
check("POST status", 201, seen["postStatus"])
check("PUT status", 200, seen["putStatus"])
for name in ("post", "put"):
    obj = s3.get_object(Bucket=b, Key=f"browser/{name}.bin")
    body = obj["Body"].read()
    etag = obj["ETag"]
    check(f"{name}: stored bytes are the page's", seen[f"{name}Sha256"], hashlib.sha256(body).hexdigest())
    check(f"{name}: ETag is the MD5", f'"{hashlib.md5(body).hexdigest()}"', etag)
    check(f"{name}: ETag the page read from the upload", etag, seen[f"{name}Etag"])
    check(f"{name}: GET status", 200, seen[f"{name}GetStatus"])
    check(f"{name}: ETag the page read from the GET", etag, seen[f"{name}GetEtag"])
    check(f"{name}: bytes the page read back", seen[f"{name}Sha256"], seen[f"{name}GetSha256"])
check("POST 201 document names the key", True, "<Key>browser/post.bin</Key>" in seen["postBody"])
check("a DELETE the rules do not allow is blocked", True, seen["deleteBlocked"])
raise SystemExit(1 if bad else 0)
EOF
    fg_pass
}

main "$@"
