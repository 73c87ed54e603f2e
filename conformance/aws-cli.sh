#!/usr/bin/env bash
# aws cli v1 against fastgate, the way users drive it:
#   aws s3:    mb, cp both ways (small, few-MiB, ~200 MiB multipart, stdin/stdout), ls with
#              prefixes, sync both ways (+ --delete, + no-op re-sync), rm --recursive,
#              presign (SigV2 and SigV4 query URLs fetched with curl), rb (+ --force)
#   aws s3api: put/get/head-object, list-objects-v2 (prefix, delimiter, pagination),
#              copy-object, delete-objects, the multipart API by hand (create, upload-part,
#              list-parts, list-multipart-uploads, complete, abort), and S3 error codes;
#              bucket policy put/get/status/delete, an anonymous curl GET the policy allows,
#              put/get/delete-public-access-block overriding it; versioning:
#              put/get-bucket-versioning, get-object --version-id, list-object-versions,
#              delete markers and delete-object --version-id; encryption at rest:
#              put/get/delete-bucket-encryption, s3 cp --sse AES256 (single and
#              multipart), --sse-c with a customer key (refused without it); object lock:
#              put/get-object-lock-configuration, put/get-object-retention,
#              put/get-object-legal-hold, refused and bypassed deletes.
# Every transfer is checked byte for byte (cmp + md5).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

BUCKET=awscli-test
API_BUCKET=awscli-api

make_local_files() {
    W="$FG_TMP/work"
    mkdir -p "$W/up" "$W/down"
    printf 'hello fastgate\n' >"$W/up/small.txt"
    gen_file "$W/up/medium.bin" $((3 * MiB + 12345))
    gen_file "$W/up/big.bin" $((200 * MiB + 7))
}

test_mb_and_cp() {
    step "aws s3 mb / cp up and down"
    run awsx s3 mb "s3://$BUCKET"
    local out
    out="$(awsx s3 ls)" || fail "aws s3 ls (list buckets) failed"
    assert_contains "$out" "$BUCKET" "aws s3 ls lists the new bucket"

    local f
    for f in small.txt medium.bin big.bin; do
        run awsx s3 cp "$W/up/$f" "s3://$BUCKET/cp/$f"
        run awsx s3 cp "s3://$BUCKET/cp/$f" "$W/down/$f"
        assert_same_file "$W/up/$f" "$W/down/$f"
    done

    # big.bin is above the 8 MiB default threshold, so it went up as a multipart upload:
    # its ETag must have the "-N" multipart suffix (25 parts of 8 MiB + 1 rest).
    local etag
    etag="$(awsx s3api head-object --bucket "$BUCKET" --key cp/big.bin --query ETag --output text)" \
        || fail "head-object cp/big.bin"
    [[ "$etag" == *-26\"* || "$etag" == *-26 ]] || fail "cp/big.bin ETag $etag is not a 26-part multipart ETag"
    # The few-MiB file went up in one PUT: its ETag is the plain MD5.
    etag="$(awsx s3api head-object --bucket "$BUCKET" --key cp/medium.bin --query ETag --output text)" \
        || fail "head-object cp/medium.bin"
    assert_eq "\"$(md5_of "$W/up/medium.bin")\"" "$etag" "single-PUT ETag is the MD5"

    # Streams: `aws s3 cp - s3://...` (stdin, unknown length) and `s3://... -` (stdout).
    awsx s3 cp - "s3://$BUCKET/cp/stdin.bin" <"$W/up/medium.bin" || fail "aws s3 cp - (stdin upload)"
    awsx s3 cp "s3://$BUCKET/cp/stdin.bin" - >"$W/down/stdout.bin" || fail "aws s3 cp to - (stdout)"
    assert_same_file "$W/up/medium.bin" "$W/down/stdout.bin"

    # s3 -> s3 copy (server-side CopyObject / UploadPartCopy for big objects).
    run awsx s3 cp "s3://$BUCKET/cp/medium.bin" "s3://$BUCKET/cp/medium-copy.bin"
    run awsx s3 cp "s3://$BUCKET/cp/medium-copy.bin" "$W/down/medium-copy.bin"
    assert_same_file "$W/up/medium.bin" "$W/down/medium-copy.bin"
}

test_ls_prefixes() {
    step "aws s3 ls with prefixes"
    local k
    for k in ls/dir1/a.txt ls/dir1/b.txt ls/dir1/sub/c.txt ls/dir2/d.txt ls/top.txt; do
        run awsx s3 cp "$W/up/small.txt" "s3://$BUCKET/$k"
    done
    local out
    out="$(awsx s3 ls "s3://$BUCKET/ls/")" || fail "aws s3 ls s3://$BUCKET/ls/"
    assert_contains "$out" "PRE dir1/" "ls/ shows dir1/ as a common prefix"
    assert_contains "$out" "PRE dir2/" "ls/ shows dir2/ as a common prefix"
    assert_contains "$out" "top.txt" "ls/ shows top.txt"
    assert_not_contains "$out" "a.txt" "ls/ does not descend into dir1/"
    assert_eq 3 "$(wc -l <<<"$out")" "ls/ line count"

    out="$(awsx s3 ls "s3://$BUCKET/ls/dir1/")" || fail "aws s3 ls s3://$BUCKET/ls/dir1/"
    assert_contains "$out" "PRE sub/" "ls/dir1/ shows sub/"
    assert_contains "$out" "a.txt" "ls/dir1/ shows a.txt"
    assert_contains "$out" "b.txt" "ls/dir1/ shows b.txt"
    assert_eq 3 "$(wc -l <<<"$out")" "ls/dir1/ line count"

    # A bare prefix without trailing slash matches keys and prefixes starting with it.
    out="$(awsx s3 ls "s3://$BUCKET/ls/dir")" || fail "aws s3 ls s3://$BUCKET/ls/dir"
    assert_contains "$out" "PRE dir1/" "ls/dir lists dir1/"
    assert_contains "$out" "PRE dir2/" "ls/dir lists dir2/"

    out="$(awsx s3 ls --recursive "s3://$BUCKET/ls/")" || fail "aws s3 ls --recursive"
    assert_eq 5 "$(wc -l <<<"$out")" "recursive listing count"
    assert_contains "$out" "ls/dir1/sub/c.txt" "recursive listing shows nested key"
    # The size column must match the object.
    assert_contains "$out" " 15 ls/top.txt" "recursive listing shows size 15 for ls/top.txt"
}

make_sync_tree() {
    local d="$1" i
    mkdir -p "$d/a/b" "$d/c"
    for i in $(seq 1 12); do gen_file "$d/a/f$i.bin" $((i * 1000 + 1)); done
    for i in $(seq 1 5); do gen_file "$d/a/b/g$i.bin" $((i * 50000)); done
    gen_file "$d/c/big.bin" $((9 * MiB)) # above the multipart threshold
    printf 'x\n' >"$d/c/name with spaces+plus.txt"
    printf 'y\n' >"$d/c/ünïcødé.txt"
    : >"$d/c/empty.txt"
    # Old mtimes: sync uploads when the local mtime is newer than the listing's LastModified,
    # which has one-second resolution, so files made this second would look "changed".
    find "$d" -exec touch -h -d '2 hours ago' {} +
}

test_sync() {
    step "aws s3 sync both ways"
    local src="$W/sync-src" dst="$W/sync-dst" out
    make_sync_tree "$src"
    run awsx s3 sync "$src" "s3://$BUCKET/sync/"
    run awsx s3 sync "s3://$BUCKET/sync/" "$dst"
    assert_same_tree "$src" "$dst"

    # Nothing changed: a second sync must transfer nothing (sizes and times from the listing
    # must be right for that).
    out="$(awsx s3 sync --no-progress "$src" "s3://$BUCKET/sync/" 2>&1)" || fail "no-op aws s3 sync"
    assert_eq "" "$out" "no-op sync output (it re-uploaded something)"

    # Change, add, delete; --delete must propagate the delete both ways.
    gen_file "$src/a/f3.bin" 4242
    gen_file "$src/new.bin" 777
    rm "$src/a/f1.bin"
    run awsx s3 sync --delete "$src" "s3://$BUCKET/sync/"
    out="$(awsx s3 ls --recursive "s3://$BUCKET/sync/")" || fail "ls after sync --delete"
    assert_not_contains "$out" "a/f1.bin" "sync --delete removed a/f1.bin remotely"
    assert_contains "$out" "sync/new.bin" "sync uploaded new.bin"
    run awsx s3 sync --delete "s3://$BUCKET/sync/" "$dst"
    assert_same_tree "$src" "$dst"
}

test_rm_recursive() {
    step "aws s3 rm --recursive"
    run awsx s3 rm --recursive "s3://$BUCKET/sync/"
    local out
    out="$(awsx s3 ls --recursive "s3://$BUCKET/sync/" || true)"
    assert_eq "" "$out" "listing after rm --recursive"
    out="$(awsx s3 ls --recursive "s3://$BUCKET/ls/")" || fail "ls of untouched prefix"
    assert_eq 5 "$(wc -l <<<"$out")" "rm --recursive left other prefixes alone"
}

# presign_check NAME CONFIG_FILE EXPECTED_URL_MARKER: aws cli v1 presigns with SigV2 query
# auth by default (us-east-1, no signature_version configured) and with SigV4 when the
# config says `s3 = signature_version = s3v4`; both kinds of URL must work with plain curl.
presign_check() {
    local name="$1" cfg="$2" marker="$3" url code
    url="$(AWS_CONFIG_FILE="$cfg" awsx s3 presign "s3://$BUCKET/cp/medium.bin" --expires-in 600)" \
        || fail "aws s3 presign ($name)"
    assert_contains "$url" "$marker" "presigned URL flavour ($name)"
    log "presigned ($name): ${url:0:160}..."
    rm -f "$W/down/presigned.bin"
    curl -fsS -o "$W/down/presigned.bin" "$url" || fail "curl GET of presigned URL ($name) failed: $url"
    assert_same_file "$W/up/medium.bin" "$W/down/presigned.bin"
    # A tampered URL (other key) must be refused: the signature covers the path.
    code="$(curl -s -o /dev/null -w '%{http_code}' "${url/medium.bin/small.txt}")"
    assert_eq 403 "$code" "HTTP status of a presigned URL ($name) whose key was changed"
}

test_presign() {
    step "aws s3 presign (SigV2 default, SigV4) + curl"
    presign_check "default: SigV2" "$AWS_CONFIG_FILE" "AWSAccessKeyId="
    local v4cfg="$FG_TMP/aws-config-sigv4"
    cat >"$v4cfg" <<EOF
[default]
region = $FG_REGION
s3 =
    addressing_style = path
    signature_version = s3v4
EOF
    presign_check "s3v4: SigV4" "$v4cfg" "X-Amz-Signature="
}

test_rb() {
    step "aws s3 rb"
    expect_error BucketNotEmpty awsx s3 rb "s3://$BUCKET"
    run awsx s3 rb --force "s3://$BUCKET"
    expect_error 404 awsx s3api head-bucket --bucket "$BUCKET"
}

# ------------------------------------------------------------------------------ s3api

test_api_objects() {
    step "s3api put/head/get/list/copy/delete-objects"
    run awsx s3api create-bucket --bucket "$API_BUCKET"
    local out etag
    etag="$(awsx s3api put-object --bucket "$API_BUCKET" --key docs/readme.txt --body "$W/up/small.txt" \
        --content-type 'text/plain; charset=utf-8' --metadata color=blue,Owner=Alice \
        --query ETag --output text)" || fail "s3api put-object"
    assert_eq "\"$(md5_of "$W/up/small.txt")\"" "$etag" "put-object ETag"

    out="$(awsx s3api head-object --bucket "$API_BUCKET" --key docs/readme.txt --output json)" || fail "head-object"
    assert_contains "$out" '"ContentLength": 15' "head-object ContentLength"
    assert_contains "$out" '"ContentType": "text/plain; charset=utf-8"' "head-object ContentType"
    assert_contains "$out" '"color": "blue"' "head-object user metadata color"
    assert_contains "$out" '"owner": "Alice"' "head-object user metadata owner (keys are lower-cased)"

    awsx s3api get-object --bucket "$API_BUCKET" --key docs/readme.txt "$W/down/api-readme.txt" >/dev/null \
        || fail "get-object"
    assert_same_file "$W/up/small.txt" "$W/down/api-readme.txt"

    # Ranged GET through the API.
    awsx s3api get-object --bucket "$API_BUCKET" --key docs/readme.txt --range bytes=6-13 "$W/down/range.txt" \
        >/dev/null || fail "get-object --range"
    assert_eq "fastgate" "$(cat "$W/down/range.txt")" "ranged get-object bytes=6-13"

    local i
    for i in 1 2 3 4 5; do
        run awsx s3api put-object --bucket "$API_BUCKET" --key "docs/page$i.txt" --body "$W/up/small.txt"
    done
    run awsx s3api put-object --bucket "$API_BUCKET" --key other/x.txt --body "$W/up/small.txt"

    out="$(awsx s3api list-objects-v2 --bucket "$API_BUCKET" --prefix docs/ --query 'Contents[].Key' --output text)" \
        || fail "list-objects-v2 --prefix"
    assert_eq "docs/page1.txt docs/page2.txt docs/page3.txt docs/page4.txt docs/page5.txt docs/readme.txt" \
        "$(tr -s '\t\n' '  ' <<<"$out" | sed 's/ $//')" "list-objects-v2 --prefix docs/ keys (sorted)"

    out="$(awsx s3api list-objects-v2 --bucket "$API_BUCKET" --delimiter / --query 'CommonPrefixes[].Prefix' --output text)" \
        || fail "list-objects-v2 --delimiter"
    assert_eq "docs/ other/" "$(tr -s '\t\n' '  ' <<<"$out" | sed 's/ $//')" "list-objects-v2 common prefixes"

    # Manual pagination: --no-paginate so we see IsTruncated / NextContinuationToken ourselves.
    local token keys="" page=0
    out="$(awsx s3api list-objects-v2 --no-paginate --bucket "$API_BUCKET" --prefix docs/ --max-keys 2 --output json)" \
        || fail "list-objects-v2 --max-keys 2"
    while :; do
        page=$((page + 1))
        keys+="$(python3 -c 'import json,sys; print(" ".join(c["Key"] for c in json.load(sys.stdin).get("Contents",[])))' <<<"$out") "
        token="$(python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("NextContinuationToken","") if d.get("IsTruncated") else "")' <<<"$out")"
        [ -n "$token" ] || break
        [ "$page" -lt 10 ] || fail "list-objects-v2 pagination does not terminate"
        out="$(awsx s3api list-objects-v2 --no-paginate --bucket "$API_BUCKET" --prefix docs/ --max-keys 2 \
            --continuation-token "$token" --output json)" || fail "list-objects-v2 --continuation-token"
    done
    assert_eq 3 "$page" "list-objects-v2 pages of 2 over 6 keys"
    assert_eq "docs/page1.txt docs/page2.txt docs/page3.txt docs/page4.txt docs/page5.txt docs/readme.txt" \
        "$(sed 's/ *$//' <<<"$keys")" "keys collected over pages"

    # copy-object, with metadata carried over (default MetadataDirective COPY).
    run awsx s3api copy-object --bucket "$API_BUCKET" --key copies/readme.txt --copy-source "$API_BUCKET/docs/readme.txt"
    awsx s3api get-object --bucket "$API_BUCKET" --key copies/readme.txt "$W/down/api-copy.txt" >/dev/null || fail "get copy"
    assert_same_file "$W/up/small.txt" "$W/down/api-copy.txt"
    out="$(awsx s3api head-object --bucket "$API_BUCKET" --key copies/readme.txt --output json)" || fail "head copy"
    assert_contains "$out" '"color": "blue"' "copy-object keeps user metadata"
    # ...and REPLACE.
    run awsx s3api copy-object --bucket "$API_BUCKET" --key copies/replaced.txt --copy-source "$API_BUCKET/docs/readme.txt" \
        --metadata-directive REPLACE --metadata shape=round --content-type application/x-test
    out="$(awsx s3api head-object --bucket "$API_BUCKET" --key copies/replaced.txt --output json)" || fail "head replaced"
    assert_contains "$out" '"shape": "round"' "copy-object REPLACE sets new metadata"
    assert_not_contains "$out" '"color"' "copy-object REPLACE drops old metadata"
    assert_contains "$out" '"ContentType": "application/x-test"' "copy-object REPLACE content type"

    # delete-objects (batch), including a key that does not exist (S3 reports it deleted too).
    out="$(awsx s3api delete-objects --bucket "$API_BUCKET" --output json --delete \
        '{"Objects":[{"Key":"docs/page1.txt"},{"Key":"docs/page2.txt"},{"Key":"docs/nope.txt"}]}')" \
        || fail "delete-objects"
    assert_contains "$out" '"Key": "docs/page1.txt"' "delete-objects reports page1"
    assert_contains "$out" '"Key": "docs/page2.txt"' "delete-objects reports page2"
    assert_not_contains "$out" '"Errors"' "delete-objects has no errors"
    out="$(awsx s3api list-objects-v2 --bucket "$API_BUCKET" --prefix docs/ --query 'Contents[].Key' --output text)" \
        || fail "list after delete-objects"
    assert_not_contains "$out" "page1" "page1 gone"
    assert_not_contains "$out" "page2" "page2 gone"
    assert_contains "$out" "page3" "page3 still there"
}

test_api_multipart() {
    step "s3api multipart: create/upload-part/list-parts/complete, abort"
    local src="$W/up/mpu.bin" upload_id etags=() i out
    gen_file "$src" $((12 * MiB + 100))
    # 5 MiB + 5 MiB + rest: the minimum part size for all but the last part.
    split -b $((5 * MiB)) -d -a 1 "$src" "$W/up/mpu.part."
    upload_id="$(awsx s3api create-multipart-upload --bucket "$API_BUCKET" --key mpu/obj.bin \
        --content-type application/octet-stream --metadata purpose=mpu --query UploadId --output text)" \
        || fail "create-multipart-upload"
    [ -n "$upload_id" ] && [ "$upload_id" != None ] || fail "create-multipart-upload returned no UploadId"

    out="$(awsx s3api list-multipart-uploads --bucket "$API_BUCKET" --query 'Uploads[].UploadId' --output text)" \
        || fail "list-multipart-uploads"
    assert_contains "$out" "$upload_id" "list-multipart-uploads shows the open upload"

    for i in 0 1 2; do
        etags[i]="$(awsx s3api upload-part --bucket "$API_BUCKET" --key mpu/obj.bin --upload-id "$upload_id" \
            --part-number $((i + 1)) --body "$W/up/mpu.part.$i" --query ETag --output text)" \
            || fail "upload-part $((i + 1))"
        assert_eq "\"$(md5_of "$W/up/mpu.part.$i")\"" "${etags[i]}" "upload-part $((i + 1)) ETag"
    done

    out="$(awsx s3api list-parts --bucket "$API_BUCKET" --key mpu/obj.bin --upload-id "$upload_id" \
        --query 'Parts[].[PartNumber,Size,ETag]' --output text)" || fail "list-parts"
    assert_eq "1	$((5 * MiB))	${etags[0]}
2	$((5 * MiB))	${etags[1]}
3	$((2 * MiB + 100))	${etags[2]}" "$out" "list-parts (number, size, etag)"

    local parts_json
    parts_json="{\"Parts\":[{\"PartNumber\":1,\"ETag\":${etags[0]}},{\"PartNumber\":2,\"ETag\":${etags[1]}},{\"PartNumber\":3,\"ETag\":${etags[2]}}]}"
    out="$(awsx s3api complete-multipart-upload --bucket "$API_BUCKET" --key mpu/obj.bin --upload-id "$upload_id" \
        --multipart-upload "$parts_json" --query ETag --output text)" || fail "complete-multipart-upload"
    # S3's multipart ETag: md5 of the concatenated binary part MD5s, then "-<parts>".
    local expect
    expect="\"$(multipart_etag "$W"/up/mpu.part.0 "$W"/up/mpu.part.1 "$W"/up/mpu.part.2)\""
    assert_eq "$expect" "$out" "complete-multipart-upload ETag"

    awsx s3api get-object --bucket "$API_BUCKET" --key mpu/obj.bin "$W/down/mpu.bin" >/dev/null || fail "get mpu object"
    assert_same_file "$src" "$W/down/mpu.bin"
    out="$(awsx s3api head-object --bucket "$API_BUCKET" --key mpu/obj.bin --output json)" || fail "head mpu object"
    assert_contains "$out" '"purpose": "mpu"' "multipart object keeps metadata from create-multipart-upload"
    assert_contains "$out" "\"ContentLength\": $((12 * MiB + 100))" "multipart object length"

    out="$(awsx s3api list-multipart-uploads --bucket "$API_BUCKET" --query 'Uploads[].UploadId' --output text)" \
        || fail "list-multipart-uploads after complete"
    assert_not_contains "$out" "$upload_id" "completed upload no longer listed"

    # Abort: the upload and its parts go away.
    upload_id="$(awsx s3api create-multipart-upload --bucket "$API_BUCKET" --key mpu/aborted.bin \
        --query UploadId --output text)" || fail "create-multipart-upload (to abort)"
    run awsx s3api upload-part --bucket "$API_BUCKET" --key mpu/aborted.bin --upload-id "$upload_id" \
        --part-number 1 --body "$W/up/mpu.part.0"
    run awsx s3api abort-multipart-upload --bucket "$API_BUCKET" --key mpu/aborted.bin --upload-id "$upload_id"
    expect_error NoSuchUpload awsx s3api list-parts --bucket "$API_BUCKET" --key mpu/aborted.bin --upload-id "$upload_id"
    expect_error NoSuchKey awsx s3api get-object --bucket "$API_BUCKET" --key mpu/aborted.bin "$W/down/nope"
    out="$(awsx s3api list-multipart-uploads --bucket "$API_BUCKET" --query 'Uploads[].UploadId' --output text)" \
        || fail "list-multipart-uploads after abort"
    assert_not_contains "$out" "$upload_id" "aborted upload no longer listed"
}

test_api_errors() {
    step "s3api error codes"
    expect_error NoSuchKey awsx s3api get-object --bucket "$API_BUCKET" --key does/not/exist "$W/down/nope"
    expect_error "Not Found" awsx s3api head-object --bucket "$API_BUCKET" --key does/not/exist
    expect_error NoSuchBucket awsx s3api list-objects-v2 --bucket no-such-bucket-here
    expect_error BucketNotEmpty awsx s3api delete-bucket --bucket "$API_BUCKET"

    # Cleanup through the API; then the bucket can go.
    local keys
    keys="$(awsx s3api list-objects-v2 --bucket "$API_BUCKET" --query 'Contents[].Key' --output json)" || fail "list for cleanup"
    run awsx s3api delete-objects --bucket "$API_BUCKET" --delete \
        "{\"Objects\":$(python3 -c 'import json,sys; print(json.dumps([{"Key":k} for k in json.load(sys.stdin)]))' <<<"$keys")}"
    run awsx s3api delete-bucket --bucket "$API_BUCKET"
    expect_error 404 awsx s3api head-bucket --bucket "$API_BUCKET"
}

test_api_cors() {
    step "s3api put-bucket-cors / get-bucket-cors / delete-bucket-cors"
    local b=awscli-cors out
    run awsx s3api create-bucket --bucket "$b"
    expect_error NoSuchCORSConfiguration awsx s3api get-bucket-cors --bucket "$b"
    cat >"$W/cors.json" <<'EOF'
{"CORSRules": [
  {"AllowedOrigins": ["http://page.test:8080"], "AllowedMethods": ["GET", "PUT", "POST"],
   "AllowedHeaders": ["*"], "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 600},
  {"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}
]}
EOF
    run awsx s3api put-bucket-cors --bucket "$b" --cors-configuration "file://$W/cors.json"
    out="$(awsx s3api get-bucket-cors --bucket "$b" --output json)" || fail "get-bucket-cors"
    assert_eq "2" "$(python3 -c 'import json,sys; print(len(json.load(sys.stdin)["CORSRules"]))' <<<"$out")" "rules read back"
    assert_contains "$out" "http://page.test:8080" "get-bucket-cors AllowedOrigins"
    assert_contains "$out" '"MaxAgeSeconds": 600' "get-bucket-cors MaxAgeSeconds"
    # The preflight a browser sends, answered from the rules without credentials.
    out="$(curl -sS -o /dev/null -D - -X OPTIONS -H 'Origin: http://page.test:8080' \
        -H 'Access-Control-Request-Method: PUT' "$FG_ENDPOINT/$b/some/key")" || fail "curl OPTIONS"
    assert_contains "$out" "200" "preflight status"
    assert_contains "$(tr -d '\r' <<<"$out")" "access-control-allow-origin: http://page.test:8080" "preflight Allow-Origin"
    expect_error InvalidRequest awsx s3api put-bucket-cors --bucket "$b" --cors-configuration \
        '{"CORSRules": [{"AllowedOrigins": ["*"], "AllowedMethods": ["PATCH"]}]}'
    run awsx s3api delete-bucket-cors --bucket "$b"
    expect_error NoSuchCORSConfiguration awsx s3api get-bucket-cors --bucket "$b"
    run awsx s3api delete-bucket --bucket "$b"
}

test_access() {
    step "s3api bucket policy, public access block, anonymous curl GET"
    local b=awscli-access out
    run awsx s3api create-bucket --bucket "$b"
    run awsx s3api put-object --bucket "$b" --key pub/index.html --body "$W/up/small.txt"
    run awsx s3api put-object --bucket "$b" --key private/x --body "$W/up/small.txt"
    local url="$FG_ENDPOINT/$b/pub/index.html"
    anon() { curl -s -o /dev/null -w '%{http_code}' "$1"; }
    assert_eq 403 "$(anon "$url")" "anonymous GET before any policy"

    local policy='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::'"$b"'/pub/*"}]}'
    run awsx s3api put-bucket-policy --bucket "$b" --policy "$policy"
    out="$(awsx s3api get-bucket-policy --bucket "$b" --query Policy --output text)" || fail "get-bucket-policy"
    assert_eq "$policy" "$out" "get-bucket-policy returns the policy as put"
    out="$(awsx s3api get-bucket-policy-status --bucket "$b" --query PolicyStatus.IsPublic --output text)" \
        || fail "get-bucket-policy-status"
    assert_eq True "$out" "a policy that allows * is public"
    curl -fsS -o "$W/down/anon.txt" "$url" || fail "anonymous curl GET allowed by the policy"
    assert_same_file "$W/up/small.txt" "$W/down/anon.txt"
    assert_eq 403 "$(anon "$FG_ENDPOINT/$b/private/x")" "anonymous GET outside the policy"
    expect_error MalformedPolicy awsx s3api put-bucket-policy --bucket "$b" --policy '{"Statement":[]}'

    run awsx s3api put-public-access-block --bucket "$b" --public-access-block-configuration \
        BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true
    out="$(awsx s3api get-public-access-block --bucket "$b" \
        --query PublicAccessBlockConfiguration.RestrictPublicBuckets --output text)" || fail "get-public-access-block"
    assert_eq True "$out" "get-public-access-block"
    assert_eq 403 "$(anon "$url")" "RestrictPublicBuckets overrides the public policy"
    expect_error AccessDenied awsx s3api put-bucket-policy --bucket "$b" --policy "$policy"
    run awsx s3api delete-public-access-block --bucket "$b"
    assert_eq 200 "$(anon "$url")" "anonymous GET once the block is deleted"
    run awsx s3api delete-bucket-policy --bucket "$b"
    expect_error NoSuchBucketPolicy awsx s3api get-bucket-policy --bucket "$b"
    assert_eq 403 "$(anon "$url")" "anonymous GET once the policy is deleted"
    run awsx s3 rb "s3://$b" --force
}

test_versioning() {
    step "aws s3api versioning: versions, delete markers, list-object-versions"
    local b=awscli-versions out v1 v2 marker
    run awsx s3 mb "s3://$b"
    out="$(awsx s3api get-bucket-versioning --bucket "$b" --query Status --output text)" \
        || fail "get-bucket-versioning"
    assert_eq None "$out" "a bucket never versioned has no status"
    run awsx s3api put-bucket-versioning --bucket "$b" --versioning-configuration Status=Enabled
    out="$(awsx s3api get-bucket-versioning --bucket "$b" --query Status --output text)" \
        || fail "get-bucket-versioning"
    assert_eq Enabled "$out" "get-bucket-versioning"

    printf 'first\n' >"$W/up/v1.txt"
    printf 'second\n' >"$W/up/v2.txt"
    v1="$(awsx s3api put-object --bucket "$b" --key k --body "$W/up/v1.txt" --query VersionId --output text)" \
        || fail "put-object v1"
    v2="$(awsx s3api put-object --bucket "$b" --key k --body "$W/up/v2.txt" --query VersionId --output text)" \
        || fail "put-object v2"
    [[ -n "$v1" && "$v1" != None && "$v1" != "$v2" ]] || fail "two writes, two version ids ($v1, $v2)"
    run awsx s3api get-object --bucket "$b" --key k --version-id "$v1" "$W/down/v1.txt"
    assert_same_file "$W/up/v1.txt" "$W/down/v1.txt"

    marker="$(awsx s3api delete-object --bucket "$b" --key k --query VersionId --output text)" \
        || fail "delete-object (delete marker)"
    expect_error 404 awsx s3api head-object --bucket "$b" --key k
    out="$(awsx s3api list-object-versions --bucket "$b" --query 'length(Versions)' --output text)" \
        || fail "list-object-versions"
    assert_eq 2 "$out" "list-object-versions: two versions"
    out="$(awsx s3api list-object-versions --bucket "$b" --query 'DeleteMarkers[0].IsLatest' --output text)" \
        || fail "list-object-versions"
    assert_eq True "$out" "list-object-versions: the marker is the latest"
    run awsx s3api delete-object --bucket "$b" --key k --version-id "$marker"
    run awsx s3 cp "s3://$b/k" "$W/down/v2.txt"
    assert_same_file "$W/up/v2.txt" "$W/down/v2.txt"

    expect_error BucketNotEmpty awsx s3api delete-bucket --bucket "$b"
    for v in "$v1" "$v2"; do
        run awsx s3api delete-object --bucket "$b" --key k --version-id "$v"
    done
    run awsx s3api delete-bucket --bucket "$b"
}

test_encryption() {
    step "encryption: put/get-bucket-encryption, cp --sse AES256, --sse-c"
    local b=awscli-sse out
    run awsx s3 mb "s3://$b"
    expect_error ServerSideEncryptionConfigurationNotFoundError awsx s3api get-bucket-encryption --bucket "$b"
    run awsx s3api put-bucket-encryption --bucket "$b" --server-side-encryption-configuration \
        '{"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"AES256"}}]}'
    out="$(awsx s3api get-bucket-encryption --bucket "$b" \
        --query 'ServerSideEncryptionConfiguration.Rules[0].ApplyServerSideEncryptionByDefault.SSEAlgorithm' \
        --output text)" || fail "get-bucket-encryption"
    assert_eq AES256 "$out" "the bucket default is AES256"
    run awsx s3 cp "$W/up/small.txt" "s3://$b/default.txt"
    out="$(awsx s3api head-object --bucket "$b" --key default.txt --query ServerSideEncryption --output text)" \
        || fail "head-object default.txt"
    assert_eq AES256 "$out" "an object without --sse takes the bucket default"
    run awsx s3api delete-bucket-encryption --bucket "$b"
    expect_error ServerSideEncryptionConfigurationNotFoundError awsx s3api get-bucket-encryption --bucket "$b"

    local f
    for f in small.txt medium.bin; do
        run awsx s3 cp --sse AES256 "$W/up/$f" "s3://$b/sse/$f"
        out="$(awsx s3api head-object --bucket "$b" --key "sse/$f" --query ServerSideEncryption --output text)" \
            || fail "head-object sse/$f"
        assert_eq AES256 "$out" "cp --sse AES256 stored $f encrypted"
        run awsx s3 cp "s3://$b/sse/$f" "$W/down/sse-$f"
        assert_same_file "$W/up/$f" "$W/down/sse-$f"
    done
    # A multipart upload under SSE-S3 (the 8 MiB threshold lowered for a few-MiB file).
    aws configure set default.s3.multipart_threshold 1MB
    aws configure set default.s3.multipart_chunksize 1MB
    run awsx s3 cp --sse AES256 "$W/up/medium.bin" "s3://$b/sse/multipart.bin"
    aws configure set default.s3.multipart_threshold 8MB
    aws configure set default.s3.multipart_chunksize 8MB
    run awsx s3 cp "s3://$b/sse/multipart.bin" "$W/down/sse-multipart.bin"
    assert_same_file "$W/up/medium.bin" "$W/down/sse-multipart.bin"

    head -c 32 /dev/urandom >"$FG_TMP/customer.key"
    run awsx s3 cp --sse-c AES256 --sse-c-key "fileb://$FG_TMP/customer.key" "$W/up/medium.bin" "s3://$b/ssec/medium.bin"
    run awsx s3 cp --sse-c AES256 --sse-c-key "fileb://$FG_TMP/customer.key" "s3://$b/ssec/medium.bin" "$W/down/ssec.bin"
    assert_same_file "$W/up/medium.bin" "$W/down/ssec.bin"
    expect_error 400 awsx s3api head-object --bucket "$b" --key ssec/medium.bin
    run awsx s3 rb --force "s3://$b"
}

test_object_lock() {
    step "aws s3api object lock: lock configuration, retention, legal hold"
    local b=awscli-worm out v until sooner
    run awsx s3api create-bucket --bucket "$b" --object-lock-enabled-for-bucket
    out="$(awsx s3api get-object-lock-configuration --bucket "$b" \
        --query ObjectLockConfiguration.ObjectLockEnabled --output text)" \
        || fail "get-object-lock-configuration"
    assert_eq Enabled "$out" "get-object-lock-configuration"
    run awsx s3api put-object-lock-configuration --bucket "$b" --object-lock-configuration \
        '{"ObjectLockEnabled":"Enabled","Rule":{"DefaultRetention":{"Mode":"GOVERNANCE","Days":1}}}'
    out="$(awsx s3api get-object-lock-configuration --bucket "$b" \
        --query ObjectLockConfiguration.Rule.DefaultRetention.Mode --output text)" \
        || fail "get-object-lock-configuration"
    assert_eq GOVERNANCE "$out" "default retention mode"
    expect_error InvalidBucketState awsx s3api put-bucket-versioning --bucket "$b" \
        --versioning-configuration Status=Suspended

    v="$(awsx s3api put-object --bucket "$b" --key k --body "$W/up/small.txt" --query VersionId --output text)" \
        || fail "put-object"
    out="$(awsx s3api head-object --bucket "$b" --key k --query ObjectLockMode --output text)" \
        || fail "head-object"
    assert_eq GOVERNANCE "$out" "the default retention applies"
    expect_error AccessDenied awsx s3api delete-object --bucket "$b" --key k --version-id "$v"

    until="$(date -u -d '+2 days' +%Y-%m-%dT%H:%M:%SZ)"
    sooner="$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)"
    run awsx s3api put-object-retention --bucket "$b" --key k --version-id "$v" \
        --retention "{\"Mode\":\"COMPLIANCE\",\"RetainUntilDate\":\"$until\"}"
    out="$(awsx s3api get-object-retention --bucket "$b" --key k --version-id "$v" \
        --query Retention.Mode --output text)" || fail "get-object-retention"
    assert_eq COMPLIANCE "$out" "get-object-retention"
    expect_error AccessDenied awsx s3api put-object-retention --bucket "$b" --key k --version-id "$v" \
        --bypass-governance-retention \
        --retention "{\"Mode\":\"COMPLIANCE\",\"RetainUntilDate\":\"$sooner\"}"

    local v2
    v2="$(awsx s3api put-object --bucket "$b" --key held --body "$W/up/small.txt" --query VersionId --output text)" \
        || fail "put-object"
    run awsx s3api put-object-legal-hold --bucket "$b" --key held --version-id "$v2" --legal-hold Status=ON
    out="$(awsx s3api get-object-legal-hold --bucket "$b" --key held --version-id "$v2" \
        --query LegalHold.Status --output text)" || fail "get-object-legal-hold"
    assert_eq ON "$out" "get-object-legal-hold"
    expect_error AccessDenied awsx s3api delete-object --bucket "$b" --key held --version-id "$v2" \
        --bypass-governance-retention
    run awsx s3api put-object-legal-hold --bucket "$b" --key held --version-id "$v2" --legal-hold Status=OFF
    # The default GOVERNANCE retention is left: the owner lifts it with a bypass.
    run awsx s3api delete-object --bucket "$b" --key held --version-id "$v2" --bypass-governance-retention
    expect_error 404 awsx s3api head-object --bucket "$b" --key held --version-id "$v2"
    # The COMPLIANCE version stays for two days: the bucket stays with it, as on S3.
    expect_error BucketNotEmpty awsx s3api delete-bucket --bucket "$b"
}

main() {
    fg_setup_with_keys
    make_local_files
    test_mb_and_cp
    test_ls_prefixes
    test_sync
    test_rm_recursive
    test_presign
    test_rb
    test_api_objects
    test_api_multipart
    test_api_errors
    test_api_cors
    test_access
    test_versioning
    test_encryption
    test_object_lock
    fg_pass
}

main "$@"
