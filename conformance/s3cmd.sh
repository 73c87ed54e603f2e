#!/usr/bin/env bash
# s3cmd (Debian package, SigV4, path style, plain HTTP) against fastgate: mb, put (small,
# and 20 MiB which s3cmd sends as a multipart upload with its 15 MiB default chunk), get
# (s3cmd verifies the MD5 itself), ls / la / du, put/get --recursive, del, rb.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

B="s3://s3cmd-test"

main() {
    fg_setup
    local W="$FG_TMP/work" out
    mkdir -p "$W/up/dir/sub" "$W/down"
    printf 'hello from s3cmd\n' >"$W/up/small.txt"
    gen_file "$W/up/big.bin" $((20 * MiB + 5))
    gen_file "$W/up/dir/a.bin" 1000
    gen_file "$W/up/dir/sub/b.bin" 2000

    step "s3cmd mb / ls"
    run s3cmdx mb "$B"
    out="$(s3cmdx ls)" || fail "s3cmd ls (buckets)"
    assert_contains "$out" "$B" "s3cmd ls lists the bucket"

    step "s3cmd put / get"
    run s3cmdx put "$W/up/small.txt" "$B/small.txt"
    run s3cmdx put --mime-type=text/x-s3cmd "$W/up/big.bin" "$B/big/big.bin"
    run s3cmdx put --recursive "$W/up/dir" "$B/"
    run s3cmdx get "$B/small.txt" "$W/down/small.txt"
    run s3cmdx get "$B/big/big.bin" "$W/down/big.bin"
    assert_same_file "$W/up/small.txt" "$W/down/small.txt"
    assert_same_file "$W/up/big.bin" "$W/down/big.bin"
    run s3cmdx get --recursive "$B/dir" "$W/down/"
    assert_same_tree "$W/up/dir" "$W/down/dir"

    step "s3cmd ls / la / du"
    out="$(s3cmdx ls "$B/")" || fail "s3cmd ls $B/"
    assert_contains "$out" "DIR  $B/big/" "s3cmd ls shows big/ as a directory"
    assert_contains "$out" "DIR  $B/dir/" "s3cmd ls shows dir/ as a directory"
    assert_contains "$out" "$B/small.txt" "s3cmd ls shows small.txt"
    out="$(s3cmdx ls --recursive "$B")" || fail "s3cmd ls --recursive"
    assert_eq 4 "$(wc -l <<<"$out")" "s3cmd ls --recursive object count"
    assert_contains "$out" "$((20 * MiB + 5))" "s3cmd ls shows the big object's size"
    out="$(s3cmdx la --recursive)" || fail "s3cmd la --recursive"
    assert_contains "$out" "$B/dir/sub/b.bin" "s3cmd la lists nested objects"
    out="$(s3cmdx du "$B")" || fail "s3cmd du"
    assert_contains "$out" "$((20 * MiB + 5 + 17 + 1000 + 2000))" "s3cmd du total bytes"
    # (not `s3cmd info`: it also fetches ?acl, which is outside what fastgate promises)
    out="$(awsx s3api head-object --bucket s3cmd-test --key big/big.bin --output json)" || fail "head-object big/big.bin"
    assert_contains "$out" '"ContentType": "text/x-s3cmd"' "MIME type set by s3cmd put --mime-type"
    # s3cmd keeps the real MD5 of multipart uploads in x-amz-meta-s3cmd-attrs (md5:...).
    assert_contains "$out" "md5:$(md5_of "$W/up/big.bin")" "s3cmd-attrs metadata carries the file MD5"

    step "s3cmd del / rb"
    expect_error BucketNotEmpty s3cmdx rb "$B"
    run s3cmdx del "$B/small.txt"
    run s3cmdx del --recursive --force "$B/"
    out="$(s3cmdx ls --recursive "$B")" || fail "s3cmd ls after del"
    assert_eq "" "$out" "bucket empty after del"
    run s3cmdx rb "$B"
    out="$(s3cmdx ls)" || fail "s3cmd ls after rb"
    assert_not_contains "$out" "$B" "bucket gone after rb"
    fg_pass
}

main "$@"
