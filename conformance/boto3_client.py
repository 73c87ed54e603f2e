#!/usr/bin/env python3
"""boto3 against fastgate.

Subcommands (endpoint from FG_ENDPOINT, credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY,
all set by lib.sh):

  suite BUCKET                      the self-checking API suite; one PASS/FAIL line per check
  resume-start BUCKET KEY FILE PART_SIZE N
                                    create a multipart upload, upload its first N parts, exit
                                    without completing (prints the UploadId)
  resume-finish BUCKET KEY FILE PART_SIZE
                                    a *new* process: find the upload with list_multipart_uploads,
                                    verify what list_parts says against the local file, upload
                                    only the missing parts, complete, download, compare bytes
  keepalive-probe BUCKET [ROUNDS]   instant-upload hit + reuse of the connection, at socket level
  upload-file BUCKET KEY FILE       s3transfer's upload_file (what instant-upload.sh measures)
  download-file BUCKET KEY FILE     s3transfer's download_file
  immutable-backup BUCKET           the call sequence of backup software with immutability (object
                                    lock): lock-enabled bucket, default retention, writes, a refused
                                    delete, retention extended, governance bypass, expiry

Exit status is non-zero when any check fails.
"""

import base64
import hashlib
import html
import io
import json
import os
import sys
import tempfile
import traceback
import urllib.error
import urllib.parse
import urllib.request

import boto3
import urllib3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

MIB = 1024 * 1024


def client(signature_version="s3v4", retries=1):
    """A client for the server under test. No retries by default: a retried 500 would hide a bug."""
    return boto3.client(
        "s3",
        endpoint_url=os.environ["FG_ENDPOINT"],
        region_name="us-east-1",
        config=Config(
            signature_version=signature_version,
            s3={"addressing_style": "path"},
            retries={"max_attempts": retries, "mode": "standard"},
            connect_timeout=10,
            read_timeout=120,
        ),
    )


def md5(data):
    return hashlib.md5(data).hexdigest()


def file_md5(path):
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(MIB), b""):
            h.update(chunk)
    return h.hexdigest()


def same_file(a, b):
    if os.path.getsize(a) != os.path.getsize(b):
        return False
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x, y = fa.read(MIB), fb.read(MIB)
            if x != y:
                return False
            if not x:
                return True


class CheckFailed(AssertionError):
    pass


def expect(cond, what):
    if not cond:
        raise CheckFailed(what)


def describe(v):
    """Short description of a value: big byte strings by length and MD5, not content."""
    if isinstance(v, (bytes, bytearray)) and len(v) > 64:
        return f"<{len(v)} bytes, md5 {md5(v)}>"
    return repr(v)


def expect_eq(expected, actual, what):
    if expected != actual:
        raise CheckFailed(f"{what}: expected {describe(expected)}, got {describe(actual)}")


def error_code(exc):
    return exc.response.get("Error", {}).get("Code")


def expect_client_error(codes, fn, *args, **kwargs):
    """fn must raise a ClientError whose code is one of codes (e.g. NoSuchKey, or 404 for HEAD)."""
    try:
        fn(*args, **kwargs)
    except ClientError as e:
        code = error_code(e)
        expect(code in codes, f"expected error {codes}, got {code}: {e}")
        return e
    raise CheckFailed(f"expected error {codes}, but the call succeeded")


# ------------------------------------------------------------------------------------- suite


class Suite:
    def __init__(self, bucket):
        self.s3 = client()
        self.bucket = bucket
        self.results = []

    def check(self, name, fn):
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - every failure becomes a report line
            detail = str(e) if isinstance(e, CheckFailed) else traceback.format_exc()
            self.results.append((name, False, detail))
            print(f"  FAIL {name}: {detail}", flush=True)
        else:
            self.results.append((name, True, ""))
            print(f"  ok   {name}", flush=True)

    def put(self, key, body, **kw):
        return self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, **kw)

    def get_bytes(self, key, **kw):
        return self.s3.get_object(Bucket=self.bucket, Key=key, **kw)["Body"].read()

    # -- the checks ---------------------------------------------------------------------------

    def t_bucket(self):
        self.s3.create_bucket(Bucket=self.bucket)
        names = [b["Name"] for b in self.s3.list_buckets()["Buckets"]]
        expect(self.bucket in names, f"list_buckets has {self.bucket}: {names}")
        self.s3.head_bucket(Bucket=self.bucket)
        # Re-creating your own bucket: us-east-1 S3 answers 200 (legacy), elsewhere
        # BucketAlreadyOwnedByYou; both are fine, anything else is not.
        try:
            self.s3.create_bucket(Bucket=self.bucket)
        except ClientError as e:
            expect_eq("BucketAlreadyOwnedByYou", error_code(e), "re-create own bucket")

    def t_put_get_head(self):
        body = os.urandom(100_000)
        r = self.put(
            "obj/data.bin",
            body,
            ContentType="application/x-fastgate-test",
            Metadata={"color": "blue", "Mixed-Case": "Value With Spaces"},
            ContentDisposition='attachment; filename="data.bin"',
            CacheControl="max-age=60",
        )
        expect_eq(f'"{md5(body)}"', r["ETag"], "put_object ETag")
        g = self.s3.get_object(Bucket=self.bucket, Key="obj/data.bin")
        expect_eq(body, g["Body"].read(), "get_object body")
        expect_eq("application/x-fastgate-test", g["ContentType"], "get_object ContentType")
        expect_eq({"color": "blue", "mixed-case": "Value With Spaces"}, g["Metadata"], "get_object Metadata")
        expect_eq(f'"{md5(body)}"', g["ETag"], "get_object ETag")
        expect_eq(len(body), g["ContentLength"], "get_object ContentLength")
        h = self.s3.head_object(Bucket=self.bucket, Key="obj/data.bin")
        expect_eq(len(body), h["ContentLength"], "head_object ContentLength")
        expect_eq("application/x-fastgate-test", h["ContentType"], "head_object ContentType")
        expect_eq({"color": "blue", "mixed-case": "Value With Spaces"}, h["Metadata"], "head_object Metadata")
        expect(h.get("LastModified") is not None, "head_object LastModified present")

    def t_content_headers(self):
        h = self.s3.head_object(Bucket=self.bucket, Key="obj/data.bin")
        expect_eq('attachment; filename="data.bin"', h.get("ContentDisposition"), "ContentDisposition round trip")
        expect_eq("max-age=60", h.get("CacheControl"), "CacheControl round trip")

    def t_default_content_type_and_empty(self):
        self.put("obj/empty", b"")
        g = self.s3.get_object(Bucket=self.bucket, Key="obj/empty")
        expect_eq(b"", g["Body"].read(), "empty object body")
        expect_eq(0, g["ContentLength"], "empty object length")
        expect_eq('"d41d8cd98f00b204e9800998ecf8427e"', g["ETag"], "empty object ETag")

    def t_overwrite(self):
        self.put("obj/over", b"first version")
        self.put("obj/over", b"second")
        expect_eq(b"second", self.get_bytes("obj/over"), "overwritten object")

    def t_special_keys(self):
        keys = [
            "special/with space.txt",
            "special/plus+sign.txt",
            "special/percent%20literal.txt",
            "special/ünïcødé/日本語.txt",
            "special/q?uestion&amp=1.txt",
            "special/tilde~star*paren(1).txt",
            "special//double-slash.txt",
        ]
        for k in keys:
            self.put(k, k.encode())
        for k in keys:
            expect_eq(k.encode(), self.get_bytes(k), f"round trip of key {k!r}")
        listed = [o["Key"] for o in self.s3.list_objects_v2(Bucket=self.bucket, Prefix="special/")["Contents"]]
        expect_eq(sorted(keys), listed, "list_objects_v2 of special keys (sorted, exact)")
        # boto3 already asked for EncodingType=url above and decoded it; asked for explicitly,
        # the keys come back encoded and are ours to decode (S3 uses form encoding: + is space).
        listed = [
            urllib.parse.unquote_plus(o["Key"])
            for o in self.s3.list_objects_v2(Bucket=self.bucket, Prefix="special/", EncodingType="url")["Contents"]
        ]
        expect_eq(sorted(keys), listed, "list_objects_v2 EncodingType=url of special keys")

    def t_ranged_get(self):
        body = bytes(range(256)) * 40  # 10240 bytes
        self.put("obj/range", body)
        cases = [("bytes=0-0", 0, 0), ("bytes=100-199", 100, 199), ("bytes=10000-", 10000, 10239), ("bytes=-50", 10190, 10239)]
        for rng, start, end in cases:
            g = self.s3.get_object(Bucket=self.bucket, Key="obj/range", Range=rng)
            expect_eq(206, g["ResponseMetadata"]["HTTPStatusCode"], f"{rng} status")
            expect_eq(body[start : end + 1], g["Body"].read(), f"{rng} body")
            expect_eq(f"bytes {start}-{end}/{len(body)}", g.get("ContentRange"), f"{rng} Content-Range")
            expect_eq(end - start + 1, g["ContentLength"], f"{rng} Content-Length")
        # Past the end: 416 InvalidRange.
        expect_client_error({"InvalidRange", "416"}, self.s3.get_object, Bucket=self.bucket, Key="obj/range", Range="bytes=20000-")

    def _make_listing_keys(self, p):
        keys = []
        for d in ("a", "b", "c"):
            for i in range(7):
                keys.append(f"{p}/{d}/{i:02d}.txt")
        keys += [f"{p}/top{i}.txt" for i in range(4)]
        keys.append(f"{p}/b/deeper/x.txt")
        for k in keys:
            self.put(k, k.encode())  # distinct bodies: listing is tested here, not dedup
        return sorted(keys)

    def t_list_v2(self):
        keys = self._make_listing_keys("list")
        # Full listing through the paginator in pages of 4 keys.
        got, pages = [], 0
        for page in self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix="list/", PaginationConfig={"PageSize": 4}
        ):
            pages += 1
            expect(page.get("KeyCount", 0) <= 4, f"page has at most 4 keys: {page.get('KeyCount')}")
            got += [o["Key"] for o in page.get("Contents", [])]
        expect_eq(keys, got, "paginated list_objects_v2 keys")
        expect_eq((len(keys) + 3) // 4, pages, "number of pages")
        # Delimiter: 3 common prefixes and 4 top-level keys, paginated with MaxKeys 2 so that
        # prefixes and keys share pages (each prefix counts as one entry).
        got_keys, got_prefixes, token = [], [], None
        for _ in range(20):
            kw = {"Bucket": self.bucket, "Prefix": "list/", "Delimiter": "/", "MaxKeys": 2}
            if token:
                kw["ContinuationToken"] = token
            r = self.s3.list_objects_v2(**kw)
            got_keys += [o["Key"] for o in r.get("Contents", [])]
            got_prefixes += [p["Prefix"] for p in r.get("CommonPrefixes", [])]
            expect(len(r.get("Contents", [])) + len(r.get("CommonPrefixes", [])) <= 2, "MaxKeys=2 respected")
            if not r["IsTruncated"]:
                break
            token = r["NextContinuationToken"]
        else:
            raise CheckFailed("delimiter pagination did not terminate")
        expect_eq(["list/a/", "list/b/", "list/c/"], got_prefixes, "CommonPrefixes with delimiter")
        expect_eq([f"list/top{i}.txt" for i in range(4)], got_keys, "keys with delimiter")
        # StartAfter.
        r = self.s3.list_objects_v2(Bucket=self.bucket, Prefix="list/", StartAfter="list/c/03.txt")
        expect_eq([k for k in keys if k > "list/c/03.txt"], [o["Key"] for o in r["Contents"]], "StartAfter")
        # Nested prefix + delimiter.
        r = self.s3.list_objects_v2(Bucket=self.bucket, Prefix="list/b/", Delimiter="/")
        expect_eq(["list/b/deeper/"], [p["Prefix"] for p in r.get("CommonPrefixes", [])], "nested CommonPrefixes")
        expect_eq(7, len(r.get("Contents", [])), "nested keys count")
        # Sizes and ETags in the listing.
        r = self.s3.list_objects_v2(Bucket=self.bucket, Prefix="list/top0.txt")
        expect_eq(len(b"list/top0.txt"), r["Contents"][0]["Size"], "listing Size")
        expect_eq(f'"{md5(b"list/top0.txt")}"', r["Contents"][0]["ETag"], "listing ETag")

    def t_list_v1(self):
        keys = self._make_listing_keys("list1")  # own keys: independent of t_list_v2
        got = []
        for page in self.s3.get_paginator("list_objects").paginate(
            Bucket=self.bucket, Prefix="list1/", PaginationConfig={"PageSize": 5}
        ):
            got += [o["Key"] for o in page.get("Contents", [])]
        expect_eq(keys, got, "paginated list_objects (v1) keys")
        # Manual v1 paging with Marker and a delimiter (NextMarker must be returned then).
        got_keys, got_prefixes, marker = [], [], ""
        for _ in range(20):
            r = self.s3.list_objects(Bucket=self.bucket, Prefix="list1/", Delimiter="/", MaxKeys=3, Marker=marker)
            got_keys += [o["Key"] for o in r.get("Contents", [])]
            got_prefixes += [p["Prefix"] for p in r.get("CommonPrefixes", [])]
            if not r["IsTruncated"]:
                break
            expect("NextMarker" in r, "v1 truncated listing with delimiter returns NextMarker")
            marker = r["NextMarker"]
        else:
            raise CheckFailed("v1 delimiter pagination did not terminate")
        expect_eq(["list1/a/", "list1/b/", "list1/c/"], got_prefixes, "v1 CommonPrefixes")
        expect_eq([f"list1/top{i}.txt" for i in range(4)], got_keys, "v1 keys with delimiter")

    def t_identical_small_puts(self):
        # The same small body under many keys, each PUT followed by a GET on the same
        # (keep-alive) connection: every PUT after the first is an instant-upload hit that
        # the server answers without reading the body, and the connection must stay sane.
        failures = []
        for i in range(60):
            k = f"same/{i:03d}"
            try:
                self.put(k, b"same small body")
                expect_eq(b"same small body", self.get_bytes(k), f"GET {k}")
            except (ClientError, CheckFailed) as e:
                failures.append(f"{k}: {e}")
        expect(not failures, f"{len(failures)}/60 PUT+GET rounds failed, first: {failures[:2]}")

    def t_copy(self):
        body = os.urandom(70_000)
        self.put("copy/src", body, ContentType="text/x-src", Metadata={"origin": "src"})
        r = self.s3.copy_object(Bucket=self.bucket, Key="copy/dst", CopySource={"Bucket": self.bucket, "Key": "copy/src"})
        expect_eq(f'"{md5(body)}"', r["CopyObjectResult"]["ETag"], "copy_object result ETag")
        g = self.s3.get_object(Bucket=self.bucket, Key="copy/dst")
        expect_eq(body, g["Body"].read(), "copied body")
        expect_eq({"origin": "src"}, g["Metadata"], "copied metadata (COPY directive)")
        expect_eq("text/x-src", g["ContentType"], "copied content type")
        self.s3.copy_object(
            Bucket=self.bucket,
            Key="copy/replaced",
            CopySource=f"{self.bucket}/copy/src",
            MetadataDirective="REPLACE",
            Metadata={"new": "yes"},
            ContentType="text/x-new",
        )
        h = self.s3.head_object(Bucket=self.bucket, Key="copy/replaced")
        expect_eq({"new": "yes"}, h["Metadata"], "REPLACE metadata")
        expect_eq("text/x-new", h["ContentType"], "REPLACE content type")
        # Copy onto itself with REPLACE is how users change metadata in place.
        self.s3.copy_object(
            Bucket=self.bucket, Key="copy/src", CopySource=f"{self.bucket}/copy/src",
            MetadataDirective="REPLACE", Metadata={"origin": "edited"},
        )
        g = self.s3.get_object(Bucket=self.bucket, Key="copy/src")
        expect_eq(body, g["Body"].read(), "self-copy keeps body")
        expect_eq({"origin": "edited"}, g["Metadata"], "self-copy replaces metadata")
        expect_client_error({"NoSuchKey"}, self.s3.copy_object, Bucket=self.bucket, Key="copy/x",
                            CopySource=f"{self.bucket}/copy/missing")

    def t_delete_objects(self):
        for i in range(5):
            self.put(f"del/{i}", f"del/{i}".encode())
        r = self.s3.delete_objects(
            Bucket=self.bucket, Delete={"Objects": [{"Key": f"del/{i}"} for i in range(3)] + [{"Key": "del/missing"}]}
        )
        expect_eq({"del/0", "del/1", "del/2", "del/missing"}, {d["Key"] for d in r.get("Deleted", [])}, "Deleted keys")
        expect_eq([], r.get("Errors", []), "delete_objects Errors")
        r = self.s3.delete_objects(Bucket=self.bucket, Delete={"Objects": [{"Key": "del/3"}], "Quiet": True})
        expect_eq([], r.get("Deleted", []), "Quiet delete_objects lists nothing")
        left = [o["Key"] for o in self.s3.list_objects_v2(Bucket=self.bucket, Prefix="del/").get("Contents", [])]
        expect_eq(["del/4"], left, "keys left after delete_objects")
        self.s3.delete_object(Bucket=self.bucket, Key="del/4")
        self.s3.delete_object(Bucket=self.bucket, Key="del/4")  # deleting a missing key is a 204 too
        expect_client_error({"NoSuchKey"}, self.s3.get_object, Bucket=self.bucket, Key="del/4")

    def _presigned_get(self, s3, key, expected):
        url = s3.generate_presigned_url("get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=300)
        with urllib.request.urlopen(url, timeout=30) as resp:
            expect_eq(expected, resp.read(), f"presigned GET body ({url[:80]}...)")
        return url

    def t_presigned_get_v4(self):
        body = os.urandom(5000)
        self.put("presign/get", body)
        url = self._presigned_get(self.s3, "presign/get", body)
        expect("X-Amz-Signature=" in url, f"SigV4 query URL: {url}")
        # Tampering with the signature must be refused with 403.
        # Same length, one hex digit changed: a well-formed but wrong signature.
        sig = url.split("X-Amz-Signature=")[1].split("&")[0]
        bad = url.replace(sig, sig[:-1] + ("0" if sig[-1] != "0" else "1"))
        try:
            urllib.request.urlopen(bad, timeout=30)
            raise CheckFailed("tampered presigned URL was accepted")
        except urllib.error.HTTPError as e:
            expect_eq(403, e.code, "status of tampered presigned URL")

    def t_presigned_get_v2(self):
        body = os.urandom(5000)
        self.put("presign/get2", body)
        url = self._presigned_get(client("s3"), "presign/get2", body)
        expect("Signature=" in url and "X-Amz-Signature" not in url, f"SigV2 query URL: {url}")

    def t_presigned_put_v4(self):
        body = os.urandom(300_000)
        url = self.s3.generate_presigned_url("put_object", Params={"Bucket": self.bucket, "Key": "presign/put"}, ExpiresIn=300)
        req = urllib.request.Request(url, data=body, method="PUT", headers={"Content-Type": "application/octet-stream"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            expect_eq(200, resp.status, "presigned PUT status")
            expect_eq(f'"{md5(body)}"', resp.headers.get("ETag"), "presigned PUT ETag")
        expect_eq(body, self.get_bytes("presign/put"), "object written by presigned PUT")

    def t_presigned_put_v2(self):
        # In SigV2 the Content-Type is signed, so it is part of the presign and must be sent as is.
        body = os.urandom(1000)
        url = client("s3").generate_presigned_url(
            "put_object", Params={"Bucket": self.bucket, "Key": "presign/put2", "ContentType": "application/x-v2"}, ExpiresIn=300
        )
        req = urllib.request.Request(url, data=body, method="PUT", headers={"Content-Type": "application/x-v2"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            expect_eq(200, resp.status, "presigned PUT (SigV2) status")
        expect_eq(body, self.get_bytes("presign/put2"), "object written by SigV2 presigned PUT")

    def t_sigv2_client(self):
        # A whole client on SigV2 header auth (old tools still use it).
        s3v2 = client("s3")
        s3v2.put_object(Bucket=self.bucket, Key="v2/obj", Body=b"signed with v2", Metadata={"k": "v"})
        expect_eq(b"signed with v2", s3v2.get_object(Bucket=self.bucket, Key="v2/obj")["Body"].read(), "SigV2 get")

    def t_multipart_manual(self):
        parts_data = [os.urandom(5 * MIB), os.urandom(5 * MIB), os.urandom(MIB + 17)]
        mpu = self.s3.create_multipart_upload(Bucket=self.bucket, Key="mpu/manual", ContentType="application/x-mpu",
                                              Metadata={"kind": "manual"})
        uid = mpu["UploadId"]
        parts = []
        # Upload out of order: part numbers, not arrival order, define the layout.
        for n in (2, 1, 3):
            r = self.s3.upload_part(Bucket=self.bucket, Key="mpu/manual", UploadId=uid, PartNumber=n, Body=parts_data[n - 1])
            expect_eq(f'"{md5(parts_data[n - 1])}"', r["ETag"], f"upload_part {n} ETag")
            parts.append({"PartNumber": n, "ETag": r["ETag"]})
        # Re-uploading a part replaces it.
        parts_data[2] = os.urandom(MIB + 18)
        r = self.s3.upload_part(Bucket=self.bucket, Key="mpu/manual", UploadId=uid, PartNumber=3, Body=parts_data[2])
        parts[2] = {"PartNumber": 3, "ETag": r["ETag"]}
        lp = self.s3.list_parts(Bucket=self.bucket, Key="mpu/manual", UploadId=uid)
        expect_eq([1, 2, 3], [p["PartNumber"] for p in lp["Parts"]], "list_parts numbers")
        expect_eq([len(d) for d in parts_data], [p["Size"] for p in lp["Parts"]], "list_parts sizes")
        # list_parts pagination.
        lp1 = self.s3.list_parts(Bucket=self.bucket, Key="mpu/manual", UploadId=uid, MaxParts=2)
        expect(lp1["IsTruncated"], "list_parts MaxParts=2 truncated")
        lp2 = self.s3.list_parts(Bucket=self.bucket, Key="mpu/manual", UploadId=uid, PartNumberMarker=lp1["NextPartNumberMarker"])
        expect_eq([3], [p["PartNumber"] for p in lp2["Parts"]], "list_parts second page")
        r = self.s3.complete_multipart_upload(
            Bucket=self.bucket, Key="mpu/manual", UploadId=uid,
            MultipartUpload={"Parts": sorted(parts, key=lambda p: p["PartNumber"])},
        )
        whole = b"".join(parts_data)
        digests = b"".join(hashlib.md5(d).digest() for d in parts_data)
        expect_eq(f'"{hashlib.md5(digests).hexdigest()}-3"', r["ETag"], "complete_multipart_upload ETag")
        g = self.s3.get_object(Bucket=self.bucket, Key="mpu/manual")
        expect_eq(whole, g["Body"].read(), "multipart object body")
        expect_eq({"kind": "manual"}, g["Metadata"], "multipart metadata")
        expect_eq("application/x-mpu", g["ContentType"], "multipart content type")
        # Ranged GET across a part boundary.
        g = self.s3.get_object(Bucket=self.bucket, Key="mpu/manual", Range=f"bytes={5 * MIB - 10}-{5 * MIB + 9}")
        expect_eq(whole[5 * MIB - 10 : 5 * MIB + 10], g["Body"].read(), "ranged GET across part boundary")
        self.mpu_parts = parts_data

    def t_get_part_number(self):
        # GET/HEAD ?partNumber=N of a multipart object returns just that part (used by SDKs
        # that download in parts, e.g. the aws-sdk-go-v2 / Java transfer managers).
        parts_data = getattr(self, "mpu_parts", None)
        expect(parts_data is not None, "needs multipart_manual")
        h = self.s3.head_object(Bucket=self.bucket, Key="mpu/manual", PartNumber=2)
        expect_eq(len(parts_data[1]), h["ContentLength"], "head_object PartNumber=2 ContentLength")
        expect_eq(3, h.get("PartsCount"), "head_object PartNumber=2 PartsCount")
        g = self.s3.get_object(Bucket=self.bucket, Key="mpu/manual", PartNumber=2)
        expect_eq(parts_data[1], g["Body"].read(), "get_object PartNumber=2 body")

    def t_multipart_errors(self):
        s3, b, k = self.s3, self.bucket, "mpu/bad"
        uid = s3.create_multipart_upload(Bucket=b, Key=k)["UploadId"]
        e1 = s3.upload_part(Bucket=b, Key=k, UploadId=uid, PartNumber=1, Body=os.urandom(5 * MIB))["ETag"]
        e2 = s3.upload_part(Bucket=b, Key=k, UploadId=uid, PartNumber=2, Body=os.urandom(1000))["ETag"]
        e3 = s3.upload_part(Bucket=b, Key=k, UploadId=uid, PartNumber=3, Body=os.urandom(1000))["ETag"]
        e4 = s3.upload_part(Bucket=b, Key=k, UploadId=uid, PartNumber=4, Body=os.urandom(5 * MIB))["ETag"]

        def complete(parts):
            return s3.complete_multipart_upload(Bucket=b, Key=k, UploadId=uid, MultipartUpload={"Parts": parts})

        p1, p2, p3 = ({"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}, {"PartNumber": 3, "ETag": e3})
        # A part smaller than 5 MiB that is not the last one.
        expect_client_error({"EntityTooSmall"}, complete, [p1, p2, p3])
        # An ETag that does not match the uploaded part.
        expect_client_error({"InvalidPart"}, complete, [{"PartNumber": 1, "ETag": '"00000000000000000000000000000000"'}, p2])
        # A part that was never uploaded.
        expect_client_error({"InvalidPart"}, complete, [p1, {"PartNumber": 9, "ETag": e2}])
        # Parts out of order (both big enough, so order is the only problem).
        expect_client_error({"InvalidPartOrder"}, complete, [{"PartNumber": 4, "ETag": e4}, p1])
        s3.abort_multipart_upload(Bucket=b, Key=k, UploadId=uid)
        expect_client_error({"NoSuchUpload"}, s3.list_parts, Bucket=b, Key=k, UploadId=uid)
        expect_client_error({"NoSuchUpload"}, s3.upload_part, Bucket=b, Key=k, UploadId=uid, PartNumber=1, Body=b"x")
        expect_client_error({"404"}, s3.head_object, Bucket=b, Key=k)

    def t_transfer_upload_download(self):
        cfg = TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB, max_concurrency=4)
        with tempfile.TemporaryDirectory() as d:
            src, dst = os.path.join(d, "src"), os.path.join(d, "dst")
            with open(src, "wb") as f:
                f.write(os.urandom(23 * MIB + 3))
            self.s3.upload_file(src, self.bucket, "transfer/big", Config=cfg,
                                ExtraArgs={"ContentType": "application/x-big", "Metadata": {"via": "upload_file"}})
            self.s3.download_file(self.bucket, "transfer/big", dst, Config=cfg)  # ranged, parallel GETs
            expect(same_file(src, dst), "upload_file/download_file round trip differs")
            h = self.s3.head_object(Bucket=self.bucket, Key="transfer/big")
            expect(h["ETag"].endswith('-5"'), f"upload_file made a 5-part upload: {h['ETag']}")
            expect_eq({"via": "upload_file"}, h["Metadata"], "upload_file metadata")
            # upload_fileobj from a non-seekable-ish stream of unknown length.
            buf = io.BytesIO(os.urandom(7 * MIB))
            self.s3.upload_fileobj(buf, self.bucket, "transfer/fileobj", Config=cfg)
            out = io.BytesIO()
            self.s3.download_fileobj(self.bucket, "transfer/fileobj", out)
            expect_eq(buf.getvalue(), out.getvalue(), "upload_fileobj/download_fileobj round trip")

    def t_errors(self):
        expect_client_error({"NoSuchKey"}, self.s3.get_object, Bucket=self.bucket, Key="no/such/key")
        expect_client_error({"404"}, self.s3.head_object, Bucket=self.bucket, Key="no/such/key")
        expect_client_error({"NoSuchBucket"}, self.s3.list_objects_v2, Bucket="fastgate-no-such-bucket")
        expect_client_error({"NoSuchBucket"}, self.s3.put_object, Bucket="fastgate-no-such-bucket", Key="k", Body=b"x")
        expect_client_error({"BucketNotEmpty"}, self.s3.delete_bucket, Bucket=self.bucket)
        bad = boto3.client("s3", endpoint_url=os.environ["FG_ENDPOINT"], region_name="us-east-1",
                           aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"], aws_secret_access_key="wrong-secret",
                           config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
        expect_client_error({"SignatureDoesNotMatch"}, bad.list_objects_v2, Bucket=self.bucket)
        bad = boto3.client("s3", endpoint_url=os.environ["FG_ENDPOINT"], region_name="us-east-1",
                           aws_access_key_id="NOSUCHACCESSKEY", aws_secret_access_key="x",
                           config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
        expect_client_error({"InvalidAccessKeyId"}, bad.list_objects_v2, Bucket=self.bucket)

    def t_s3_details(self):
        # Answers client libraries rely on (issue 19); each pinned in gateway/tests/it/s3_details.rs.
        s3, b = self.s3, self.bucket
        # The list_buckets paginator follows ContinuationToken.
        pages = list(s3.get_paginator("list_buckets").paginate(PaginationConfig={"PageSize": 1}))
        names = [x["Name"] for p in pages for x in p.get("Buckets", [])]
        expect(b in names, f"paginated list_buckets has {b}: {names}")
        expect_eq(len(names), len(pages), "one bucket per page with MaxBuckets=1")
        # partNumber past the parts count: 400 InvalidPartNumber.
        self.put("details/single", b"one part")
        e = expect_client_error({"InvalidPartNumber"}, s3.get_object, Bucket=b, Key="details/single", PartNumber=2)
        expect_eq(400, e.response["ResponseMetadata"]["HTTPStatusCode"], "InvalidPartNumber status")
        # x-amz-tagging-count on HEAD as on GET.
        self.put("details/tagged", b"t", Tagging="a=1&b=2")
        h = s3.head_object(Bucket=b, Key="details/tagged")
        expect_eq("2", h["ResponseMetadata"]["HTTPHeaders"].get("x-amz-tagging-count"), "head tagging count")
        expect_eq(2, s3.get_object(Bucket=b, Key="details/tagged").get("TagCount"), "get TagCount")
        # GetObjectAttributes answers ObjectSize (boto3 joins the attributes with commas).
        a = s3.get_object_attributes(Bucket=b, Key="details/single", ObjectAttributes=["ETag", "ObjectSize", "StorageClass"])
        expect_eq(8, a.get("ObjectSize"), "get_object_attributes ObjectSize")
        expect_eq(md5(b"one part"), a.get("ETag", "").strip('"'), "get_object_attributes ETag")
        # boto3 adds encoding-type=url to list_objects and does not decode Prefix.
        self.put("details/a\nb", b"x")
        r = s3.list_objects(Bucket=b, Prefix="details/a\n")
        expect_eq("details/a\n", r.get("Prefix"), "list_objects Prefix with a control character")
        expect_eq(["details/a\nb"], [o["Key"] for o in r.get("Contents", [])], "list_objects keys")
        # Error bodies carry the request id of their answer, and a host id.
        e = expect_client_error({"NoSuchKey"}, s3.get_object, Bucket=b, Key="details/missing")
        meta = e.response["ResponseMetadata"]
        expect(meta.get("RequestId") and meta.get("HostId"), f"error has RequestId and HostId: {meta}")
        # Checksum helpers: boto3 computes the checksum; a wrong one is BadDigest.
        body = os.urandom(10_000)
        want = base64.b64encode(hashlib.sha256(body).digest()).decode()
        r = self.put("details/sha", body, ChecksumAlgorithm="SHA256")
        expect_eq(want, r.get("ChecksumSHA256"), "put_object ChecksumAlgorithm=SHA256")
        wrong = base64.b64encode(hashlib.sha256(b"other").digest()).decode()
        expect_client_error({"BadDigest"}, self.put, "details/bad", body, ChecksumSHA256=wrong)
        # gzip content sent aws-chunked (boto3 >= 1.36 with a checksum) is stored as gzip.
        self.put("details/gz", body, ContentEncoding="gzip", ChecksumAlgorithm="CRC32")
        expect_eq("gzip", s3.head_object(Bucket=b, Key="details/gz").get("ContentEncoding"), "stored Content-Encoding")
        # A SHA256 multipart upload (s3transfer lists the part checksums) is COMPOSITE.
        cfg = TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB, max_concurrency=2)
        with tempfile.TemporaryDirectory() as d:
            src = os.path.join(d, "src")
            with open(src, "wb") as f:
                f.write(os.urandom(11 * MIB))
            s3.upload_file(src, b, "details/mpu-sha", Config=cfg, ExtraArgs={"ChecksumAlgorithm": "SHA256"})
        h = s3.head_object(Bucket=b, Key="details/mpu-sha", ChecksumMode="ENABLED")
        expect_eq("COMPOSITE", h.get("ChecksumType"), "SHA256 multipart checksum type")
        expect(h.get("ChecksumSHA256", "").endswith("-3"), f"composite SHA256 of 3 parts: {h.get('ChecksumSHA256')}")

    # -- browsers: CORS and POST Object ----------------------------------------------------

    def t_cors(self):
        rules = [
            {
                "AllowedOrigins": ["http://page.test:8080"],
                "AllowedMethods": ["PUT", "POST", "GET"],
                "AllowedHeaders": ["*"],
                "ExposeHeaders": ["ETag"],
                "MaxAgeSeconds": 600,
            }
        ]
        self.s3.put_bucket_cors(Bucket=self.bucket, CORSConfiguration={"CORSRules": rules})
        got = self.s3.get_bucket_cors(Bucket=self.bucket)["CORSRules"]
        expect_eq(rules, [{k: v for k, v in r.items() if k != "ID"} for r in got], "get_bucket_cors")
        expect_client_error(
            {"InvalidRequest"},
            self.s3.put_bucket_cors,
            Bucket=self.bucket,
            CORSConfiguration={"CORSRules": [{"AllowedOrigins": ["*"], "AllowedMethods": ["PATCH"]}]},
        )
        # A preflight is answered without credentials, from the rules.
        url = f"{os.environ['FG_ENDPOINT']}/{self.bucket}/cors/obj"
        pre = urllib.request.Request(url, method="OPTIONS", headers={
            "Origin": "http://page.test:8080",
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "content-type",
        })
        with urllib.request.urlopen(pre, timeout=30) as resp:
            expect_eq(200, resp.status, "preflight status")
            expect_eq("http://page.test:8080", resp.headers.get("Access-Control-Allow-Origin"), "preflight origin")
            expect_eq("ETag", resp.headers.get("Access-Control-Expose-Headers"), "preflight expose headers")
        pre = urllib.request.Request(url, method="OPTIONS", headers={
            "Origin": "http://other.test", "Access-Control-Request-Method": "PUT"})
        try:
            urllib.request.urlopen(pre, timeout=30)
            raise CheckFailed("a preflight from another origin was allowed")
        except urllib.error.HTTPError as e:
            expect_eq(403, e.code, "preflight from another origin")
            expect("AccessForbidden" in e.read().decode(), "preflight refusal code")
        self.s3.delete_bucket_cors(Bucket=self.bucket)
        expect_client_error({"NoSuchCORSConfiguration"}, self.s3.get_bucket_cors, Bucket=self.bucket)

    def _post_form(self, post, body, fields=None):
        """Sends a generate_presigned_post form as a browser does (file last); redirects
        are not followed. Returns (status, headers, body)."""
        form = dict(post["fields"])
        form.update(fields or {})
        parts = list(form.items()) + [("file", ("upload.bin", body, "application/octet-stream"))]
        data, ctype = urllib3.encode_multipart_formdata(parts)
        req = urllib.request.Request(post["url"], data=data, method="POST", headers={"Content-Type": ctype})

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args, **kwargs):
                return None

        opener = urllib.request.build_opener(NoRedirect)
        try:
            with opener.open(req, timeout=60) as resp:
                return resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def t_presigned_post(self):
        body = os.urandom(2 * MIB + 5)
        tagging = "<Tagging><TagSet><Tag><Key>via</Key><Value>form</Value></Tag></TagSet></Tagging>"
        fields = {
            "Content-Type": "image/png",
            "x-amz-meta-who": "boto3",
            "tagging": tagging,
            "success_action_status": "201",
        }
        conditions = [{k: v} for k, v in fields.items()] + [["content-length-range", 1, 10 * MIB]]
        post = self.s3.generate_presigned_post(
            self.bucket, "post/form.bin", Fields=fields, Conditions=conditions, ExpiresIn=300
        )
        status, headers, text = self._post_form(post, body)
        expect_eq(201, status, f"POST status ({text[:300]!r})")
        expect(md5(body) in text.decode(), f"201 document names the ETag: {text[:300]!r}")
        expect_eq(f'"{md5(body)}"', headers.get("ETag"), "POST ETag header")
        g = self.s3.get_object(Bucket=self.bucket, Key="post/form.bin")
        expect_eq(body, g["Body"].read(), "object written by POST")
        expect_eq("image/png", g["ContentType"], "POST Content-Type")
        expect_eq({"who": "boto3"}, g["Metadata"], "POST metadata")
        tags = self.s3.get_object_tagging(Bucket=self.bucket, Key="post/form.bin")["TagSet"]
        expect_eq([{"Key": "via", "Value": "form"}], tags, "POST tagging")

        # success_action_redirect: 303 to the page with bucket, key and ETag.
        post = self.s3.generate_presigned_post(
            self.bucket, "post/redirected", Fields={"success_action_redirect": "http://page.test/done"},
            Conditions=[{"success_action_redirect": "http://page.test/done"}], ExpiresIn=300)
        status, headers, _ = self._post_form(post, b"redirected")
        expect_eq(303, status, "POST with success_action_redirect")
        loc = headers.get("Location", "")
        expect(loc.startswith("http://page.test/done?") and "key=post%2Fredirected" in loc and md5(b"redirected") in loc,
               f"redirect Location: {loc}")

    def t_presigned_post_refusals(self):
        def refused(post, body, status, code, message=None, fields=None):
            got, _, text = self._post_form(post, body, fields)
            text = html.unescape(text.decode(errors="replace"))
            expect_eq(status, got, f"status ({text[:300]})")
            expect(f"<Code>{code}</Code>" in text, f"code {code} in {text[:300]}")
            if message:
                expect(message in text, f"message {message!r} in {text[:400]}")

        key = "post/refused"
        post = self.s3.generate_presigned_post(self.bucket, key, ExpiresIn=300)
        refused(post, b"x", 403, "AccessDenied", 'Invalid according to Policy: Policy Condition failed: ["eq", "$key", ',
                fields={"key": "post/elsewhere"})
        post = self.s3.generate_presigned_post(self.bucket, key, ExpiresIn=-30)
        refused(post, b"x", 403, "AccessDenied", "Invalid according to Policy: Policy expired.")
        wrong = boto3.client(
            "s3", endpoint_url=os.environ["FG_ENDPOINT"], region_name="us-east-1",
            aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"], aws_secret_access_key="not-the-secret-key",
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        )
        refused(wrong.generate_presigned_post(self.bucket, key, ExpiresIn=300), b"x", 403, "SignatureDoesNotMatch")
        post = self.s3.generate_presigned_post(self.bucket, key, Conditions=[["content-length-range", 10, 100]], ExpiresIn=300)
        refused(post, os.urandom(101), 400, "EntityTooLarge")
        refused(post, b"small", 400, "EntityTooSmall")
        expect_client_error({"404", "NoSuchKey"}, self.s3.head_object, Bucket=self.bucket, Key=key)

    def t_access(self):
        # Bucket policy, anonymous reads, Block Public Access, a public-read ACL (issue 17);
        # each pinned in gateway/tests/it/access.rs. A bucket of its own: a policy there
        # must not change what the other checks see.
        s3, b = self.s3, self.bucket + "-access"
        endpoint = os.environ["FG_ENDPOINT"]

        def anon(key):
            try:
                with urllib.request.urlopen(f"{endpoint}/{b}/{key}", timeout=10) as r:
                    return r.status, r.read()
            except urllib.error.HTTPError as e:
                return e.code, e.read()

        s3.create_bucket(Bucket=b)
        try:
            s3.put_object(Bucket=b, Key="pub/page.html", Body=b"<p>public</p>")
            s3.put_object(Bucket=b, Key="private/x", Body=b"x")
            expect_eq(403, anon("pub/page.html")[0], "anonymous GET before any policy")
            policy = json.dumps({
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                               "Resource": f"arn:aws:s3:::{b}/pub/*"}],
            })
            s3.put_bucket_policy(Bucket=b, Policy=policy)
            expect_eq(policy, s3.get_bucket_policy(Bucket=b)["Policy"], "get_bucket_policy")
            expect_eq(True, s3.get_bucket_policy_status(Bucket=b)["PolicyStatus"]["IsPublic"], "policy status")
            expect_eq((200, b"<p>public</p>"), anon("pub/page.html"), "anonymous GET allowed by the policy")
            expect_eq(403, anon("private/x")[0], "anonymous GET outside the policy")
            expect_client_error({"MalformedPolicy"}, s3.put_bucket_policy, Bucket=b, Policy='{"Statement": 1}')

            every = {k: True for k in ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")}
            s3.put_public_access_block(Bucket=b, PublicAccessBlockConfiguration=every)
            expect_eq(every, s3.get_public_access_block(Bucket=b)["PublicAccessBlockConfiguration"], "get_public_access_block")
            expect_eq(403, anon("pub/page.html")[0], "RestrictPublicBuckets overrides the public policy")
            expect_client_error({"AccessDenied"}, s3.put_bucket_policy, Bucket=b, Policy=policy)
            s3.delete_public_access_block(Bucket=b)
            expect_eq(200, anon("pub/page.html")[0], "anonymous GET once the block is deleted")
            s3.delete_bucket_policy(Bucket=b)
            expect_client_error({"NoSuchBucketPolicy"}, s3.get_bucket_policy, Bucket=b)

            # ACLs are disabled on new buckets, as S3's; enabled, public-read is readable by anyone.
            expect_client_error({"AccessControlListNotSupported"}, s3.put_object, Bucket=b, Key="acl/x", Body=b"a",
                                ACL="public-read")
            s3.put_bucket_ownership_controls(Bucket=b, OwnershipControls={"Rules": [{"ObjectOwnership": "ObjectWriter"}]})
            s3.put_object(Bucket=b, Key="acl/public", Body=b"acl", ACL="public-read")
            expect_eq((200, b"acl"), anon("acl/public"), "anonymous GET of a public-read object")
        finally:
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=b):
                objs = [{"Key": o["Key"]} for o in page.get("Contents", [])]
                if objs:
                    s3.delete_objects(Bucket=b, Delete={"Objects": objs})
            s3.delete_bucket(Bucket=b)

    def t_cleanup(self):
        for up in self.s3.list_multipart_uploads(Bucket=self.bucket).get("Uploads", []):
            self.s3.abort_multipart_upload(Bucket=self.bucket, Key=up["Key"], UploadId=up["UploadId"])
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket):
            objs = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if objs:
                self.s3.delete_objects(Bucket=self.bucket, Delete={"Objects": objs})
        self.s3.delete_bucket(Bucket=self.bucket)
        expect_client_error({"404", "NoSuchBucket"}, self.s3.head_bucket, Bucket=self.bucket)

    def run(self):
        checks = [(name[2:], getattr(self, name)) for name in Suite.__dict__ if name.startswith("t_")]
        first = checks[0]
        self.check(*first)
        if not self.results[0][1]:
            return 1  # no bucket, nothing else can work
        for name, fn in checks[1:]:
            self.check(name, fn)
        failed = [r for r in self.results if not r[1]]
        print(f"boto3 suite: {len(self.results) - len(failed)} checks ok, {len(failed)} failed", flush=True)
        for name, _, detail in failed:
            last = detail.strip().splitlines()[-1] if detail.strip() else ""
            print(f"  failed check: {name}: {last[:400]}", flush=True)
        return 1 if failed else 0


# ------------------------------------------------------------------------- keep-alive probe


def keepalive_probe(bucket, rounds):
    """What botocore does on an instant-upload hit, at socket level and without timing luck:
    PUT with `Expect: 100-continue` for content the server already holds, read the final
    response (the body is never sent), then send the next request on the same connection,
    unless the response said `Connection: close`. The next request must be answered as sent;
    a server that consumes unsent body bytes from it (e.g. GET parsed as "ET") fails here.
    """
    import socket
    from urllib.parse import urlparse

    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    ep = urlparse(os.environ["FG_ENDPOINT"])
    cred = Credentials(os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"])

    def raw_request(method, path, body=b"", extra=None):
        headers = {"x-amz-content-sha256": hashlib.sha256(body).hexdigest(), **(extra or {})}
        req = AWSRequest(method=method, url=f"http://{ep.netloc}{path}", data=body, headers=headers)
        S3SigV4Auth(cred, "s3", "us-east-1").add_auth(req)
        lines = [f"{method} {path} HTTP/1.1", f"Host: {ep.netloc}", f"Content-Length: {len(body)}"]
        lines += [f"{k}: {v}" for k, v in req.headers.items() if k.lower() != "host"]
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    def read_response(sock):
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                return None, {}
            data += chunk
        head, rest = data.split(b"\r\n\r\n", 1)
        status, *hdr_lines = head.decode("latin-1").split("\r\n")
        hdrs = {k.strip().lower(): v.strip() for k, v in (h.split(":", 1) for h in hdr_lines)}
        while len(rest) < int(hdrs.get("content-length", 0)):
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
        return status, hdrs

    s3 = client()
    body = b"keep-alive probe body"
    s3.put_object(Bucket=bucket, Key="probe/original", Body=body)
    bad, closed, dropped = [], 0, 0
    for i in range(rounds):
        with socket.create_connection((ep.hostname, ep.port), timeout=10) as sock:
            sock.sendall(raw_request("PUT", f"/{bucket}/probe/copy{i}", body, {"Expect": "100-continue"}))
            st1, h1 = read_response(sock)
            if st1 is None or not st1.startswith("HTTP/1.1 200"):
                bad.append(f"round {i}: instant PUT answered {st1}")
                continue
            if h1.get("connection", "").lower() == "close":
                closed += 1
                continue  # the server said it will not read more: a client would reconnect
            sock.sendall(raw_request("GET", f"/{bucket}/probe/original"))
            try:
                st2, _ = read_response(sock)
            except (ConnectionResetError, socket.timeout) as e:
                st2 = f"<{type(e).__name__}>"
            if st2 is None:
                dropped += 1  # closed without an answer: the client retries on a new connection
            elif not st2.startswith("HTTP/1.1 200"):
                bad.append(f"round {i}: PUT -> {st1}, then GET on the same connection -> {st2}")
    print(
        f"keep-alive probe: {rounds} rounds: {closed} hits said Connection: close, {dropped} times the next "
        f"request got no answer (connection dropped), {len(bad)} times it was misread",
        flush=True,
    )
    for line in bad[:5]:
        print(f"  {line}", flush=True)
    return 1 if bad else 0


# ------------------------------------------------------------------------------------- resume


def file_chunks(path, part_size):
    with open(path, "rb") as f:
        n = 1
        for chunk in iter(lambda: f.read(part_size), b""):
            yield n, chunk
            n += 1


def resume_start(bucket, key, path, part_size, n_parts):
    s3 = client()
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError:
        s3.create_bucket(Bucket=bucket)
    uid = s3.create_multipart_upload(Bucket=bucket, Key=key, Metadata={"resumed": "yes"})["UploadId"]
    for n, chunk in file_chunks(path, part_size):
        if n > n_parts:
            break
        s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=n, Body=chunk)
    print(uid, flush=True)
    # Exit without completing or aborting: the "client died / laptop closed" case.
    return 0


def resume_finish(bucket, key, path, part_size):
    s3 = client()
    ups = [u for u in s3.list_multipart_uploads(Bucket=bucket, Prefix=key).get("Uploads", []) if u["Key"] == key]
    expect_eq(1, len(ups), f"list_multipart_uploads finds exactly one upload for {key}")
    uid = ups[0]["UploadId"]
    have = {}
    for page in s3.get_paginator("list_parts").paginate(Bucket=bucket, Key=key, UploadId=uid):
        for p in page.get("Parts", []):
            have[p["PartNumber"]] = p
    expect(have, "list_parts shows the parts uploaded by the first process")
    parts, sent = [], 0
    for n, chunk in file_chunks(path, part_size):
        etag = f'"{md5(chunk)}"'
        if n in have:
            # Trust but verify: what the server kept must be exactly what we sent before.
            expect_eq(etag, have[n]["ETag"], f"ETag of surviving part {n}")
            expect_eq(len(chunk), have[n]["Size"], f"size of surviving part {n}")
        else:
            etag = s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=n, Body=chunk)["ETag"]
            sent += 1
        parts.append({"PartNumber": n, "ETag": etag})
    print(f"resume: {len(have)} parts were already on the server, uploaded {sent} more", flush=True)
    s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=uid, MultipartUpload={"Parts": parts})
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "downloaded")
        s3.download_file(bucket, key, out)
        expect(same_file(path, out), f"resumed object differs from source (md5 {file_md5(path)} vs {file_md5(out)})")
    expect_eq({"resumed": "yes"}, s3.head_object(Bucket=bucket, Key=key)["Metadata"], "resumed object metadata")
    left = [u for u in s3.list_multipart_uploads(Bucket=bucket, Prefix=key).get("Uploads", []) if u["Key"] == key]
    expect_eq([], left, "no upload left open after completion")
    return 0


# ---------------------------------------------------------------------- immutable backups


def immutable_backup(bucket):
    """What Veeam, Kopia or restic-on-immutable-buckets do with object lock, in order.

    A bucket made with object lock and a default GOVERNANCE retention; backup blocks written
    (each protected by the default); a metadata object written with its own COMPLIANCE
    retention a few seconds ahead; the delete a ransomware would try, refused; the retention of
    the blocks extended (as a backup job does each run); the owner lifting a GOVERNANCE
    retention with a bypass; and the COMPLIANCE object going once its date has passed.
    """
    import datetime
    import time

    s3 = client()
    now = lambda: datetime.datetime.now(datetime.timezone.utc)  # noqa: E731

    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    expect_eq("Enabled", s3.get_bucket_versioning(Bucket=bucket).get("Status"), "a lock bucket is versioned")
    cfg = s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
    expect_eq("Enabled", cfg.get("ObjectLockEnabled"), "ObjectLockEnabled")
    s3.put_object_lock_configuration(
        Bucket=bucket,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}},
        },
    )
    rule = s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]["Rule"]
    expect_eq({"Mode": "GOVERNANCE", "Days": 1}, rule["DefaultRetention"], "default retention")

    # Backup blocks: each version gets the default retention.
    blocks = {}
    for i in range(3):
        key = f"blocks/{i:04d}"
        blocks[key] = s3.put_object(Bucket=bucket, Key=key, Body=os.urandom(64 * 1024))["VersionId"]
    h = s3.head_object(Bucket=bucket, Key="blocks/0000")
    expect_eq("GOVERNANCE", h.get("ObjectLockMode"), "default mode on a new version")
    left = (h["ObjectLockRetainUntilDate"] - now()).total_seconds()
    expect(86_000 < left <= 86_400, f"retained for a day ({left} s left)")

    # The catalogue, protected in COMPLIANCE mode for a few seconds only.
    until = now() + datetime.timedelta(seconds=4)
    meta_v = s3.put_object(
        Bucket=bucket,
        Key="meta/catalog",
        Body=b"catalog",
        ObjectLockMode="COMPLIANCE",
        ObjectLockRetainUntilDate=until,
    )["VersionId"]

    # What ransomware with the keys would try: both are refused, the data stays.
    expect_client_error({"AccessDenied"}, s3.delete_object, Bucket=bucket, Key="blocks/0001", VersionId=blocks["blocks/0001"])
    r = s3.delete_objects(
        Bucket=bucket,
        Delete={"Objects": [{"Key": k, "VersionId": v} for k, v in blocks.items()]},
    )
    expect_eq(3, len(r.get("Errors", [])), "delete_objects of locked versions: one error each")
    expect_client_error(
        {"AccessDenied"},
        s3.delete_object,
        Bucket=bucket,
        Key="meta/catalog",
        VersionId=meta_v,
        BypassGovernanceRetention=True,
    )
    expect_client_error(
        {"AccessDenied"},
        s3.put_object_retention,
        Bucket=bucket,
        Key="meta/catalog",
        VersionId=meta_v,
        Retention={"Mode": "COMPLIANCE", "RetainUntilDate": until - datetime.timedelta(seconds=2)},
    )
    # A delete without a version id only hides the key behind a marker.
    s3.delete_object(Bucket=bucket, Key="blocks/0002")
    s3.get_object(Bucket=bucket, Key="blocks/0002", VersionId=blocks["blocks/0002"])["Body"].read()

    # The next backup run extends the retention of the blocks it still needs.
    later = now() + datetime.timedelta(days=7)
    for k, v in blocks.items():
        s3.put_object_retention(
            Bucket=bucket, Key=k, VersionId=v, Retention={"Mode": "GOVERNANCE", "RetainUntilDate": later}
        )
    got = s3.get_object_retention(Bucket=bucket, Key="blocks/0000", VersionId=blocks["blocks/0000"])["Retention"]
    expect(abs((got["RetainUntilDate"] - later).total_seconds()) < 2, f"retention extended: {got}")
    expect_client_error(
        {"AccessDenied"},
        s3.put_object_retention,
        Bucket=bucket,
        Key="blocks/0000",
        VersionId=blocks["blocks/0000"],
        Retention={"Mode": "GOVERNANCE", "RetainUntilDate": now() + datetime.timedelta(days=1)},
    )

    # Retention housekeeping by the owner: a GOVERNANCE retention lifted with a bypass.
    for k, v in blocks.items():
        s3.delete_object(Bucket=bucket, Key=k, VersionId=v, BypassGovernanceRetention=True)

    # The COMPLIANCE object goes once its date has passed, and not before.
    wait = (until - now()).total_seconds() + 1.5
    if wait > 0:
        time.sleep(wait)
    s3.delete_object(Bucket=bucket, Key="meta/catalog", VersionId=meta_v)

    # Empty the bucket (the delete markers left) and remove it.
    versions = s3.list_object_versions(Bucket=bucket)
    left = [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in versions.get("Versions", [])]
    expect_eq([], left, "no version left")
    markers = [{"Key": m["Key"], "VersionId": m["VersionId"]} for m in versions.get("DeleteMarkers", [])]
    if markers:
        s3.delete_objects(Bucket=bucket, Delete={"Objects": markers})
    s3.delete_bucket(Bucket=bucket)
    print("immutable backup sequence: ok", flush=True)
    return 0


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    cmd, args = argv[1], argv[2:]
    try:
        if cmd == "suite":
            return Suite(args[0]).run()
        if cmd == "keepalive-probe":
            return keepalive_probe(args[0], int(args[1]) if len(args) > 1 else 500)
        if cmd == "resume-start":
            return resume_start(args[0], args[1], args[2], int(args[3]), int(args[4]))
        if cmd == "resume-finish":
            return resume_finish(args[0], args[1], args[2], int(args[3]))
        if cmd == "upload-file":
            # Defaults of s3transfer (8 MiB threshold and chunks), as a user's script would have.
            # A few retries like a real user; instant-upload.sh measures the bytes anyway.
            client(retries=3).upload_file(args[2], args[0], args[1])
            return 0
        if cmd == "immutable-backup":
            return immutable_backup(args[0])
        if cmd == "download-file":
            client(retries=3).download_file(args[0], args[1], args[2])
            return 0
    except (CheckFailed, ClientError) as e:
        print(f"FAIL: {cmd}: {e}", file=sys.stderr, flush=True)
        return 1
    print(f"unknown subcommand {cmd}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
