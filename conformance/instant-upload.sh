#!/usr/bin/env bash
# The 秒传 (instant upload) checks, measured with the server's own counter
# fastgate_request_body_bytes_total (PUT/UploadPart body bytes actually read from the network):
#
#  1. upload a ~200 MiB file with `aws s3 cp` over plain HTTP (all bytes must arrive);
#  2. upload the same file under a new key with `aws s3 cp`, and again with boto3's
#     upload_file: each time fewer than 1% of the file's bytes may be received (the clients
#     announce each part's SHA-256 in x-amz-content-sha256 and wait on `Expect: 100-continue`,
#     so the server can answer before the body is sent); downloads must equal the file;
#  3. resume: `aws s3 cp` of a ~300 MiB file (8 MB parts) is SIGKILLed after about half the
#     bytes reached the server; running the same command again may send at most
#     (file size - bytes received in run 1) + 2 part sizes; the result must equal the file.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

BUCKET=instant
RESUME_PID=""
PART_MIB=$((8 * MiB)) # aws cli reads "8MB" as 8 MiB

body_bytes() { fg_metric fastgate_request_body_bytes_total; }

# measure VAR CMD...: run CMD, store the counter delta in VAR.
measure() {
    local __var="$1" before after
    shift
    before="$(body_bytes)"
    "$@" || fail "command failed: $*"
    after="$(body_bytes)"
    printf -v "$__var" '%s' "$((after - before))"
}

download_and_compare() { # download_and_compare KEY SOURCE_FILE
    local out="$FG_TMP/download.bin"
    rm -f "$out"
    awsx s3 cp --only-show-errors "s3://$BUCKET/$1" "$out" || fail "aws s3 cp s3://$BUCKET/$1 (download)"
    assert_same_file "$2" "$out"
    rm -f "$out"
}

# assert_instant WHAT RECEIVED SIZE: fewer than 1% of SIZE bytes may have been received.
assert_instant() {
    local what="$1" got="$2" size="$3"
    log "$what: $got body bytes received for a $size-byte file"
    [ "$((got * 100))" -lt "$size" ] \
        || fail "$what: server read $got body bytes for a re-upload of $size identical bytes (limit: < 1% = $((size / 100)))"
}

test_first_upload() {
    step "first upload of a 200 MiB file (aws s3 cp, multipart, plain HTTP)"
    SRC="$FG_TMP/src200.bin"
    SIZE=$((200 * MiB + 4321))
    gen_file "$SRC" "$SIZE"
    run awsx s3 mb "s3://$BUCKET"
    local got
    measure got awsx s3 cp --only-show-errors "$SRC" "s3://$BUCKET/orig.bin"
    log "first upload: $got body bytes received"
    # Sanity: the counter must see a real upload, or the < 1% checks below prove nothing.
    [ "$got" -ge "$SIZE" ] || fail "fastgate_request_body_bytes_total grew by $got during a $SIZE-byte upload (expected >= $SIZE)"
    download_and_compare orig.bin "$SRC"
}

test_reupload_aws() {
    step "re-upload under a new key with aws s3 cp: must be (nearly) free"
    local got hits0 hits1
    hits0="$(fg_metric fastgate_dedup_hits_total)"
    measure got awsx s3 cp --only-show-errors "$SRC" "s3://$BUCKET/copy-aws.bin"
    hits1="$(fg_metric fastgate_dedup_hits_total)"
    log "fastgate_dedup_hits_total: +$((hits1 - hits0))"
    assert_instant "aws s3 cp re-upload" "$got" "$SIZE"
    [ "$hits1" -gt "$hits0" ] || fail "fastgate_dedup_hits_total did not grow on an instant re-upload"
    download_and_compare copy-aws.bin "$SRC"
}

test_reupload_boto3() {
    step "re-upload under a new key with boto3 upload_file: must be (nearly) free"
    local got
    measure got python3 "$FG_CONF_DIR/boto3_client.py" upload-file "$BUCKET" copy-boto3.bin "$SRC"
    assert_instant "boto3 upload_file re-upload" "$got" "$SIZE"
    download_and_compare copy-boto3.bin "$SRC"
}

# A config just for the resume case: 8MB parts, one request in flight. With aws cli's
# default 10 concurrent parts, up to 10 half-sent parts would be lost at the kill and the
# "+ 2 part sizes" bound would not hold even for a correct server; with one, a correct
# server loses at most the one part that was on the wire.
resume_config() {
    RESUME_CFG="$FG_TMP/aws-config-resume"
    cp "$AWS_CONFIG_FILE" "$RESUME_CFG"
    AWS_CONFIG_FILE="$RESUME_CFG" aws configure set default.s3.multipart_chunksize 8MB
    AWS_CONFIG_FILE="$RESUME_CFG" aws configure set default.s3.max_concurrent_requests 1
}

test_resume() {
    step "resume: SIGKILL aws s3 cp of a 300 MiB file half-way, run it again"
    local src="$FG_TMP/src300.bin" size=$((300 * MiB + 99)) pid start now r1 r2 bound
    gen_file "$src" "$size"
    resume_config
    start="$(body_bytes)"
    # setsid: aws runs as its own process group, so the SIGKILL hits python and every thread
    # of it, and nothing of ours.
    AWS_CONFIG_FILE="$RESUME_CFG" setsid aws --endpoint-url "$FG_ENDPOINT" s3 cp --only-show-errors \
        "$src" "s3://$BUCKET/resume.bin" </dev/null >"$FG_TMP/resume-run1.log" 2>&1 &
    pid=$!
    RESUME_PID=$pid
    fg_on_exit 'if [ -n "$RESUME_PID" ]; then kill -KILL -- "-$RESUME_PID" 2>/dev/null; fi' # on early failure/timeout
    for _ in $(seq 1 6000); do # at most ~10 minutes
        now="$(body_bytes)"
        [ "$((now - start))" -ge "$((size / 2))" ] && break
        kill -0 "$pid" 2>/dev/null || { cat "$FG_TMP/resume-run1.log" >&2; fail "run 1 ended before half of the file was received ($((now - start)) bytes)"; }
        sleep 0.05
    done
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    RESUME_PID=""
    sleep 1 # let the server notice the dropped connections and settle its counter
    r1="$(($(body_bytes) - start))"
    log "run 1 killed after $r1 of $size bytes reached the server"

    measure r2 env AWS_CONFIG_FILE="$RESUME_CFG" aws --endpoint-url "$FG_ENDPOINT" s3 cp --only-show-errors \
        "$src" "s3://$BUCKET/resume.bin"
    bound=$((size - r1 + 2 * PART_MIB))
    log "run 2 sent $r2 bytes (bound: size - run1 + 2 parts = $bound; a full upload would be $size)"
    log "re-sent beyond the missing bytes: $((r2 - (size - r1))) bytes = $(((r2 - (size - r1)) * 100 / PART_MIB))% of a part"
    [ "$r2" -le "$bound" ] \
        || fail "resume: second aws s3 cp sent $r2 body bytes; only the missing $((size - r1)) bytes + 2 parts ($bound) were allowed"
    download_and_compare resume.bin "$src"
}

main() {
    fg_setup
    test_first_upload
    test_reupload_aws
    test_reupload_boto3
    rm -f "$SRC"
    test_resume
    fg_pass
}

main "$@"
