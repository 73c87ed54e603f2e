#!/usr/bin/env bash
# boto3 against fastgate: the API suite in boto3_client.py (one line per check), the
# call sequence of backup software on an object-locked bucket, a socket-level probe
# of connection reuse after an instant-upload hit, then the
# multipart RESUME scenario across two Python processes:
#   1. process A creates a multipart upload of a 40 MiB file, uploads parts 1-3 of 8, exits;
#      process B finds it with list_multipart_uploads, checks list_parts against the file,
#      uploads parts 4-8, completes; the download must equal the file.
#   2. the same, but the server is killed with SIGKILL and restarted between A and B: the
#      open upload and its parts must survive a crash;
#   3. after a graceful restart both objects still read back byte for byte.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

PY="$FG_CONF_DIR/boto3_client.py"
PART=$((5 * MiB))

FAILED_PARTS=()

# A failing check does not stop the script: the resume cases still run, and the verdict
# comes at the end, so one run reports everything that is broken.
run_suite() {
    step "boto3 API suite"
    python3 "$PY" suite boto3-suite </dev/null || FAILED_PARTS+=("boto3 API suite (see the FAIL lines)")
}

# resume_case NAME BETWEEN: BETWEEN is a command run between the two processes.
# botocore reuses a connection after an instant-upload hit (final answer to a PUT with
# Expect: 100-continue, body never sent); whether the next request then works is a race in
# the client suite, so the probe makes it deterministic at socket level.
run_keepalive_probe() {
    step "keep-alive after an instant-upload hit (socket-level probe)"
    python3 "$PY" keepalive-probe boto3-probe 500 </dev/null \
        || FAILED_PARTS+=("keep-alive probe: requests misread after an instant-upload hit")
}

resume_case() {
    local name="$1" between="$2" src="$FG_TMP/resume-$1.bin" uid
    step "boto3 resume: $name"
    gen_file "$src" $((40 * MiB))
    uid="$(python3 "$PY" resume-start boto3-resume "resume/$name.bin" "$src" "$PART" 3 </dev/null)" \
        || fail "resume-start ($name) failed"
    log "process A left upload $uid open with 3 parts"
    $between
    python3 "$PY" resume-finish boto3-resume "resume/$name.bin" "$src" "$PART" </dev/null \
        || fail "resume-finish ($name) failed"
    # Cross-check the result with a different client than the one that wrote it.
    awsx s3 cp "s3://boto3-resume/resume/$name.bin" "$FG_TMP/resume-$name.out" >/dev/null \
        || fail "aws s3 cp of the resumed object ($name)"
    assert_same_file "$src" "$FG_TMP/resume-$name.out"
}

# After a graceful restart (SIGTERM, start again on the same data dir) every object written
# above, including the one completed after a crash, must still read back the same.
check_after_restart() {
    step "graceful restart: objects survive"
    fg_restart
    local name
    for name in plain server-crash; do
        rm -f "$FG_TMP/resume-$name.out"
        awsx s3 cp "s3://boto3-resume/resume/$name.bin" "$FG_TMP/resume-$name.out" >/dev/null \
            || fail "aws s3 cp of resume/$name.bin after a restart"
        assert_same_file "$FG_TMP/resume-$name.bin" "$FG_TMP/resume-$name.out"
    done
}

run_awsx_bucket_for_probe() { run awsx s3 mb s3://boto3-probe; }

# Backup software with immutability: object lock from bucket creation to expiry.
run_immutable_backup() {
    step "boto3 immutable backup (object lock)"
    python3 "$PY" immutable-backup boto3-worm </dev/null \
        || FAILED_PARTS+=("immutable backup sequence (object lock)")
}

main() {
    fg_setup
    run_suite
    run_immutable_backup
    run_awsx_bucket_for_probe
    run_keepalive_probe
    resume_case plain true
    resume_case server-crash fg_crash_restart
    check_after_restart
    [ "${#FAILED_PARTS[@]}" -eq 0 ] || fail "$(IFS=';'; echo "${FAILED_PARTS[*]}")"
    fg_pass
}

main "$@"
