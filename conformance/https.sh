#!/usr/bin/env bash
# fastgate serving HTTPS itself (--tls-cert / --tls-key) with a self-signed certificate
# made here by openssl, and the clients told to trust it as deploy/README.md says:
#   1. aws cli with --ca-bundle: mb, cp up and down (a multipart file and a small one);
#   2. instant upload over HTTPS: with payload signing on and the trailing checksum off
#      (the README's client settings) a re-upload of the same bytes is a dedup hit and
#      the body is not sent (fastgate_dedup_bytes_not_received_total grows);
#   3. boto3 with verify=CA: put, get, and a re-put that hits;
#   4. a certificate reload under load: SIGHUP while an upload streams from a slow pipe;
#      the upload completes, new connections get the new certificate (openssl s_client
#      fingerprints), and a broken certificate file keeps the one in use.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

BUCKET=https-test
CERTS=""

# new_cert NAME: a self-signed EC certificate for 127.0.0.1 and localhost.
new_cert() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
        -keyout "$CERTS/$1.key" -out "$CERTS/$1.pem" -subj /CN=localhost \
        -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null \
        || fail "openssl could not make a certificate"
}

fingerprint_file() { openssl x509 -in "$1" -noout -fingerprint -sha256; }

# The certificate a new connection is served.
fingerprint_served() {
    openssl s_client -connect "127.0.0.1:$FG_PORT" -servername localhost </dev/null 2>/dev/null \
        | openssl x509 -noout -fingerprint -sha256
}

# hup_and_wait MARKER: SIGHUP the server and wait until its log shows MARKER once more.
hup_and_wait() {
    local before
    before="$(grep -c "$1" "$FG_LOG" || true)"
    kill -HUP "$FG_PID"
    for _ in $(seq 1 100); do
        [ "$(grep -c "$1" "$FG_LOG" || true)" -gt "$before" ] && return 0
        sleep 0.1
    done
    fail "no \"$1\" in the server log after SIGHUP"
}

test_aws_cli() {
    step "aws cli over HTTPS (--ca-bundle)"
    run aws --ca-bundle "$CERTS/a.pem" --endpoint-url "$FG_ENDPOINT" s3 mb "s3://$BUCKET"
    local f
    for f in small.txt medium.bin; do
        run aws --ca-bundle "$CERTS/a.pem" --endpoint-url "$FG_ENDPOINT" s3 cp "$W/$f" "s3://$BUCKET/$f"
        run aws --ca-bundle "$CERTS/a.pem" --endpoint-url "$FG_ENDPOINT" s3 cp "s3://$BUCKET/$f" "$W/$f.down"
        assert_same_file "$W/$f" "$W/$f.down"
    done
    # Without the CA the client refuses the server.
    if aws --endpoint-url "$FG_ENDPOINT" s3 ls >/dev/null 2>&1; then
        fail "aws cli accepted a self-signed certificate it was not told to trust"
    fi
}

test_instant_upload() {
    step "instant upload over HTTPS (payload signing on, trailing checksum off)"
    cat >>"$AWS_CONFIG_FILE" <<CFG
    payload_signing_enabled = true
request_checksum_calculation = when_required
CFG
    local hits0 saved0 hits1 saved1
    hits0="$(fg_metric fastgate_dedup_hits_total)"
    saved0="$(fg_metric fastgate_dedup_bytes_not_received_total)"
    run aws --ca-bundle "$CERTS/a.pem" --endpoint-url "$FG_ENDPOINT" s3 cp "$W/medium.bin" "s3://$BUCKET/again.bin"
    hits1="$(fg_metric fastgate_dedup_hits_total)"
    saved1="$(fg_metric fastgate_dedup_bytes_not_received_total)"
    [ "$hits1" -gt "$hits0" ] || fail "re-upload over HTTPS was not an instant-upload hit"
    [ "$saved1" -gt "$saved0" ] || fail "re-upload over HTTPS sent its body"
    log "dedup hits $hits0 -> $hits1, bytes not received $saved0 -> $saved1"
}

test_boto3() {
    step "boto3 over HTTPS (verify=CA)"
    python3 - "$FG_ENDPOINT" "$CERTS/a.pem" "$BUCKET" <<'PY' || fail "boto3 over HTTPS"
import hashlib, os, sys
import boto3
from botocore.config import Config
endpoint, ca, bucket = sys.argv[1:4]
cfg = Config(request_checksum_calculation="when_required",
             s3={"addressing_style": "path", "payload_signing_enabled": True})
s3 = boto3.client("s3", endpoint_url=endpoint, verify=ca, config=cfg)
body = os.urandom(2 * 1024 * 1024)
s3.put_object(Bucket=bucket, Key="boto3/one", Body=body)
got = s3.get_object(Bucket=bucket, Key="boto3/one")["Body"].read()
assert got == body, "boto3 GET over HTTPS returned other bytes"
r = s3.put_object(Bucket=bucket, Key="boto3/two", Body=body)
dedup = r["ResponseMetadata"]["HTTPHeaders"].get("x-fastgate-dedup")
assert dedup == "hit", f"boto3 re-put over HTTPS: x-fastgate-dedup={dedup!r}"
print("boto3 over HTTPS: put, get, instant-upload hit")
PY
}

test_reload_under_load() {
    step "certificate reload on SIGHUP during an upload"
    [ "$(fingerprint_served)" = "$(fingerprint_file "$CERTS/a.pem")" ] || fail "not serving certificate a"
    # The server reads its files in place: write the new ones, then signal.
    new_cert b
    # The CA bundle holds both, so the client trusts whichever the server shows.
    cat "$CERTS/a.pem" "$CERTS/b.pem" >"$CERTS/both.pem"
    local big="$W/big.bin" half=$((24 * MiB))
    gen_file "$big" $((48 * MiB))
    { head -c "$half" "$big"; sleep 3; tail -c +$((half + 1)) "$big"; } \
        | aws --ca-bundle "$CERTS/both.pem" --endpoint-url "$FG_ENDPOINT" s3 cp - "s3://$BUCKET/under-load.bin" \
            >"$W/upload.out" 2>&1 &
    local upload=$!
    sleep 1
    cp "$CERTS/b.pem" "$CERTS/server.pem"
    cp "$CERTS/b.key" "$CERTS/server.key"
    hup_and_wait "TLS certificate reloaded"
    [ "$(fingerprint_served)" = "$(fingerprint_file "$CERTS/b.pem")" ] || fail "new connections do not get certificate b"
    printf -- '-----BEGIN CERTIFICATE-----\ntruncated\n' >"$CERTS/server.pem"
    hup_and_wait "TLS certificate not reloaded"
    [ "$(fingerprint_served)" = "$(fingerprint_file "$CERTS/b.pem")" ] || fail "a broken file replaced certificate b"
    wait "$upload" || { cat "$W/upload.out" >&2; fail "the upload in flight during the reloads failed"; }
    run aws --ca-bundle "$CERTS/both.pem" --endpoint-url "$FG_ENDPOINT" s3 cp "s3://$BUCKET/under-load.bin" "$W/under-load.down"
    assert_same_file "$big" "$W/under-load.down"
}

main() {
    CERTS="$(mktemp -d -t fastgate-https-certs.XXXXXX)"
    new_cert a
    cp "$CERTS/a.pem" "$CERTS/server.pem"
    cp "$CERTS/a.key" "$CERTS/server.key"
    FG_SCHEME=https fg_setup --tls-cert "$CERTS/server.pem" --tls-key "$CERTS/server.key"
    fg_on_exit "rm -rf '$CERTS'"
    W="$FG_TMP/work"
    mkdir -p "$W"
    printf 'hello fastgate over https\n' >"$W/small.txt"
    gen_file "$W/medium.bin" $((12 * MiB + 345))
    test_aws_cli
    test_instant_upload
    test_boto3
    test_reload_under_load
    fg_pass
}

main "$@"
