#!/usr/bin/env bash
# rclone (Debian package) against fastgate: mkdir, copy up (a ~30 MiB file goes multipart
# thanks to --s3-upload-cutoff 5M --s3-chunk-size 5M), check (sizes + MD5s), lsf, copy down,
# cat, sync with changes and deletions, delete with a filter, a versioned bucket (old versions
# listed and read by time, kept after a delete, cleaned up), purge; encryption at rest:
# copy with --s3-server-side-encryption AES256 and with --s3-sse-customer-key (check and
# copy down with the key, refused without it).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

REMOTE="fg:rclone-test"
# Small cutoff/chunk: the 30 MiB file must be a 6-part multipart upload. --retries 1 and
# --low-level-retries 1 so a server error is not papered over by rclone's retry loop.
RC_FLAGS=(--s3-chunk-size 5M --s3-upload-cutoff 5M --retries 1 --low-level-retries 1 --stats 0 -q)

# AWS_CA_BUNDLE (set on some machines for HTTPS) makes rclone's S3 backend refuse to start
# ("unable to load custom CA bundle"); the endpoint is plain HTTP, so drop it for rclone.
rc() { env -u AWS_CA_BUNDLE rclone "${RC_FLAGS[@]}" "$@"; }

make_tree() {
    local d="$1" i
    mkdir -p "$d/docs/nested" "$d/media"
    for i in $(seq 1 20); do gen_file "$d/docs/f$i.txt" $((i * 311)); done
    for i in $(seq 1 5); do gen_file "$d/docs/nested/n$i.dat" $((i * 70001)); done
    gen_file "$d/media/big.bin" $((30 * MiB + 123))
    printf 'spaces and ünicode\n' >"$d/docs/with space ü.txt"
}

test_encryption() {
    local src="$1" dst="$FG_TMP/dst-sse" out
    step "rclone --s3-server-side-encryption AES256"
    run rc mkdir fg:rclone-sse
    run rc copy --s3-server-side-encryption AES256 "$src/docs" fg:rclone-sse/s3
    run rc copy --s3-server-side-encryption AES256 "$src/media" fg:rclone-sse/s3big
    out="$(awsx s3api head-object --bucket rclone-sse --key s3big/big.bin --query ServerSideEncryption --output text)" \
        || fail "head-object of an SSE-S3 rclone object"
    assert_eq AES256 "$out" "rclone stored big.bin under SSE-S3"
    run rc check "$src/docs" fg:rclone-sse/s3
    run rc copy fg:rclone-sse/s3big "$dst/media"
    assert_same_file "$src/media/big.bin" "$dst/media/big.bin"

    step "rclone --s3-sse-customer-key (over HTTPS)"
    # rclone sends customer keys over HTTPS only: the same server and data, restarted with a
    # self-signed certificate that rclone and the aws cli are told to trust.
    local certs="$FG_TMP/certs"
    mkdir -p "$certs"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
        -keyout "$certs/server.key" -out "$certs/server.pem" -subj /CN=localhost \
        -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null \
        || fail "openssl could not make a certificate"
    FG_SCHEME=https fg_restart --config "$FG_KEYS_DIR/fastgate.toml" \
        --tls-cert "$certs/server.pem" --tls-key "$certs/server.key"
    fg_config_rclone
    RC_FLAGS+=(--ca-cert "$certs/server.pem")
    export AWS_CA_BUNDLE="$certs/server.pem"
    local key sse_c
    key="$(head -c 24 /dev/urandom | base64)" # 32 characters: the 256-bit key itself
    sse_c=(--s3-sse-customer-algorithm AES256 --s3-sse-customer-key "$key")
    run rc copy "${sse_c[@]}" "$src/docs/nested" fg:rclone-sse/c
    run rc copy "${sse_c[@]}" fg:rclone-sse/c "$dst/nested"
    assert_same_tree "$src/docs/nested" "$dst/nested"
    expect_error 400 awsx s3api head-object --bucket rclone-sse --key c/n1.dat
    # Without the key rclone cannot even see the object (its HEAD is refused).
    rc cat fg:rclone-sse/c/n1.dat >"$FG_TMP/nokey.out" 2>/dev/null || true
    if cmp -s "$src/docs/nested/n1.dat" "$FG_TMP/nokey.out"; then
        fail "an SSE-C object was read without its key"
    fi
    run rc purge fg:rclone-sse
}

main() {
    fg_setup_with_keys
    local src="$FG_TMP/src" dst="$FG_TMP/dst" out
    make_tree "$src"

    step "rclone mkdir + copy up"
    run rc mkdir "$REMOTE"
    run rc copy "$src" "$REMOTE/tree"

    step "rclone check (size + MD5 of every file)"
    # For multipart objects rclone compares the MD5 it stored in X-Amz-Meta-Md5chksum, so
    # this also proves user metadata survives a multipart upload.
    run rc check "$src" "$REMOTE/tree"
    out="$(awsx s3api head-object --bucket rclone-test --key tree/media/big.bin --query ETag --output text)" \
        || fail "head-object of the big rclone object"
    [[ "$out" == *-7* ]] || fail "media/big.bin was not uploaded as a 7-part multipart upload (ETag $out)"

    step "rclone lsf"
    out="$(rc lsf "$REMOTE/tree")" || fail "rclone lsf"
    assert_eq "docs/
media/" "$out" "lsf top level"
    out="$(rc lsf -R --files-only "$REMOTE/tree" | sort)" || fail "rclone lsf -R"
    assert_eq "$(cd "$src" && find . -type f | sed 's|^\./||' | LC_ALL=C sort)" "$(LC_ALL=C sort <<<"$out")" "lsf -R file list"
    out="$(rc lsf --format sp "$REMOTE/tree/media")" || fail "rclone lsf --format sp"
    assert_eq "$((30 * MiB + 123));big.bin" "$out" "lsf size of big.bin"

    step "rclone copy down + cat"
    run rc copy "$REMOTE/tree" "$dst"
    assert_same_tree "$src" "$dst"
    rc cat "$REMOTE/tree/docs/f7.txt" >"$FG_TMP/cat.out" || fail "rclone cat"
    assert_same_file "$src/docs/f7.txt" "$FG_TMP/cat.out"
    out="$(rc md5sum "$REMOTE/tree/docs/nested" | sort -k2)" || fail "rclone md5sum"
    assert_eq "$(cd "$src/docs/nested" && md5sum -- * | sed 's/  / /' | sort -k2 | tr -s ' ')" "$(tr -s ' ' <<<"$out")" "rclone md5sum vs local md5sum"

    step "rclone sync (changed, new, deleted files)"
    gen_file "$src/docs/f3.txt" 9999
    gen_file "$src/docs/new.txt" 4242
    rm "$src/docs/f5.txt" "$src/docs/nested/n2.dat"
    run rc sync "$src" "$REMOTE/tree"
    run rc check "$src" "$REMOTE/tree"
    run rc sync "$REMOTE/tree" "$dst"
    assert_same_tree "$src" "$dst"

    step "rclone delete with a filter"
    run rc delete --include '*.dat' "$REMOTE/tree"
    out="$(rc lsf -R --files-only "$REMOTE/tree")" || fail "lsf after delete"
    assert_not_contains "$out" ".dat" "no .dat left after delete --include '*.dat'"
    assert_contains "$out" "docs/f1.txt" "other files kept by filtered delete"

    step "rclone on a versioned bucket (backend versioning, --s3-versions, --s3-version-at, cleanup-hidden)"
    local vb="fg:rclone-versions" between
    run rc mkdir "$vb"
    run rc backend versioning "$vb" Enabled
    assert_eq "Enabled" "$(rc backend versioning "$vb")" "versioning state read back"
    printf 'first\n' >"$FG_TMP/v.txt"
    run rc copyto "$FG_TMP/v.txt" "$vb/v.txt"
    # --s3-version-at has a resolution of a second: stand clear of both writes.
    sleep 1.2
    between="$(date -u +'%Y-%m-%d %H:%M:%S')"
    sleep 1.2
    printf 'second!\n' >"$FG_TMP/v.txt"
    run rc copyto "$FG_TMP/v.txt" "$vb/v.txt"
    out="$(rc lsf --s3-versions "$vb")" || fail "rclone lsf --s3-versions"
    assert_eq 2 "$(wc -l <<<"$out")" "both versions listed: $out"
    assert_contains "$out" "v-v" "the old version under rclone's version name"
    assert_eq "first" "$(rc cat --s3-version-at "$between" "$vb/v.txt")" "the version at a time between the writes"
    assert_eq "second!" "$(rc cat "$vb/v.txt")" "the current version"
    run rc deletefile "$vb/v.txt"
    assert_eq "" "$(rc lsf "$vb")" "a deleted key is hidden (delete marker)"
    out="$(rc lsf --s3-versions "$vb")" || fail "rclone lsf --s3-versions after delete"
    assert_eq 2 "$(wc -l <<<"$out")" "both versions kept after the delete: $out"
    assert_eq "first" "$(rc cat --s3-version-at "$between" "$vb/v.txt")" "an old version read after the delete"
    run rc backend cleanup-hidden "$vb"
    assert_eq "" "$(rc lsf --s3-versions "$vb")" "cleanup-hidden removed every version"
    run rc rmdir "$vb"

    test_encryption "$src"

    step "rclone purge"
    run rc purge "$REMOTE"
    out="$(rc lsd fg: 2>&1)" || fail "rclone lsd fg: after purge"
    assert_not_contains "$out" "rclone-test" "bucket gone after purge"
    fg_pass
}

main "$@"
