#!/usr/bin/env bash
# restic (Debian package, minio-go S3 backend) against fastgate: init an
# s3:http://127.0.0.1:PORT/restic repository, back up a generated tree (a few hundred files,
# some MiB), restore it and diff -r, change the tree and back up again (incremental),
# restore that snapshot too, then `restic check --read-data` reads every pack back.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

# A few hundred files: many small, some MiB-sized, nested; some content repeated so restic's
# own dedup produces packs that share blobs.
make_tree() {
    local d="$1" i j
    for i in $(seq 1 12); do
        mkdir -p "$d/dir$i/sub"
        for j in $(seq 1 20); do gen_file "$d/dir$i/file$j.txt" $(((i * 97 + j * 131) % 9000 + 1)); done
        for j in 1 2 3 4 5; do gen_file "$d/dir$i/sub/blob$j.bin" $(((i * j * 7919) % 60000 + 100)); done
    done
    gen_file "$d/large1.bin" $((4 * MiB))
    gen_file "$d/large2.bin" $((3 * MiB + 17))
    cp "$d/large1.bin" "$d/dir1/copy-of-large1.bin"
    : >"$d/empty.file"
    ln -s dir1/file1.txt "$d/a-symlink"
}

restic_q() { restic --no-cache -q "$@"; }

main() {
    fg_setup
    local src="$FG_TMP/tree" out
    make_tree "$src"
    log "tree: $(find "$src" -type f | wc -l) files, $(du -sh "$src" | cut -f1)"

    step "restic init ($RESTIC_REPOSITORY)"
    run restic_q init

    step "restic backup"
    # Back up a relative path from its parent, so the restore lands in TARGET/tree.
    (cd "$FG_TMP" && restic_q backup tree) >"$FG_TMP/backup1.log" 2>&1 \
        || { cat "$FG_TMP/backup1.log" >&2; fail "restic backup tree"; }
    out="$(restic_q snapshots --json)" || fail "restic snapshots"
    assert_eq 1 "$(python3 -c 'import json,sys; print(len(json.load(sys.stdin)))' <<<"$out")" "snapshot count"

    step "restic restore + diff -r"
    run restic_q restore latest --target "$FG_TMP/restore1"
    assert_same_tree "$src" "$FG_TMP/restore1/tree"

    step "restic incremental backup + restore"
    gen_file "$src/dir3/file7.txt" 5555
    gen_file "$src/new-file.bin" $((2 * MiB))
    rm -r "$src/dir5"
    (cd "$FG_TMP" && restic_q backup tree) >"$FG_TMP/backup2.log" 2>&1 \
        || { cat "$FG_TMP/backup2.log" >&2; fail "restic backup tree (second)"; }
    run restic_q restore latest --target "$FG_TMP/restore2"
    assert_same_tree "$src" "$FG_TMP/restore2/tree"

    step "restic check --read-data"
    run restic_q check --read-data

    step "restic forget --prune (deletes and rewrites packs)"
    run restic_q forget --keep-last 1 --prune
    run restic_q check --read-data
    fg_pass
}

main "$@"
