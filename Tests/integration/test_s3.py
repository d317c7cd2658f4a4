"""S3 on ecsd's endpoint, driven by the real aws CLI (`aws s3`, `aws s3api`) and boto3: buckets,
objects streamed to disk and back, listings, copies, ranges and conditions, tagging, multipart
uploads with checksums, presigned URLs, aws-chunked bodies, S3's XML errors, and objects that
survive a kill -9 whole or not at all."""
import base64
import hashlib
import http.client
import json
import os
import subprocess
import urllib.request
import zlib

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.credentials
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import Ecsd
from test_authentication import admin_credentials

NO_RETRIES = Config(retries={"max_attempts": 1, "mode": "standard"})


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    server = Ecsd(str(tmp_path_factory.mktemp("s3")), auth="on").start()
    path, key_id, secret = admin_credentials(server)
    server.credentials_file = path
    server.key = (key_id, secret)
    server.s3 = boto3.client("s3", endpoint_url=server.endpoint, region_name="us-east-1", aws_access_key_id=key_id,
                             aws_secret_access_key=secret, config=NO_RETRIES)
    yield server
    server.stop()


def aws(store, *args, check=True):
    env = {**os.environ, "AWS_SHARED_CREDENTIALS_FILE": store.credentials_file}
    env.pop("AWS_ACCESS_KEY_ID", None)
    env.pop("AWS_SECRET_ACCESS_KEY", None)
    result = subprocess.run(["aws", "--endpoint-url", store.endpoint, *args], capture_output=True, text=True, timeout=120,
                            env=env)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def error_of(call):
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value.response["Error"]["Code"], caught.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_aws_s3_commands_copy_sync_list_and_remove(store, tmp_path):
    aws(store, "s3", "mb", "s3://cli-bucket")
    small = tmp_path / "small.txt"
    small.write_text("hello, stevedore\n")
    # Above the CLI's 8 MB threshold: a multipart upload of three parts.
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(20 * 1024 * 1024 + 123))
    aws(store, "s3", "cp", str(small), "s3://cli-bucket/docs/small.txt")
    aws(store, "s3", "cp", str(big), "s3://cli-bucket/blobs/big.bin")
    head = store.s3.head_object(Bucket="cli-bucket", Key="blobs/big.bin")
    assert head["ContentLength"] == big.stat().st_size and head["ETag"].endswith('-3"')
    aws(store, "s3", "cp", "s3://cli-bucket/blobs/big.bin", str(tmp_path / "back.bin"))
    assert (tmp_path / "back.bin").read_bytes() == big.read_bytes()

    tree = tmp_path / "tree"
    for name in ["a.txt", "sub/b.txt", "sub/deeper/c.txt", "with space.txt"]:
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        (tree / name).write_text(name)
    aws(store, "s3", "sync", str(tree), "s3://cli-bucket/tree")
    listing = aws(store, "s3", "ls", "--recursive", "s3://cli-bucket/tree/").stdout
    assert sorted(line.split(None, 3)[3] for line in listing.splitlines()) == [
        "tree/a.txt", "tree/sub/b.txt", "tree/sub/deeper/c.txt", "tree/with space.txt"]
    # A second sync has nothing to send; a changed file is sent again.
    (tree / "a.txt").write_text("changed, and longer")
    aws(store, "s3", "sync", str(tree), "s3://cli-bucket/tree")
    assert store.s3.get_object(Bucket="cli-bucket", Key="tree/a.txt")["Body"].read() == b"changed, and longer"
    top = aws(store, "s3", "ls", "s3://cli-bucket/").stdout
    assert "PRE blobs/" in top and "PRE docs/" in top and "PRE tree/" in top

    url = aws(store, "s3", "presign", "s3://cli-bucket/docs/small.txt", "--expires-in", "60").stdout.strip()
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == b"hello, stevedore\n"

    failed = aws(store, "s3", "rb", "s3://cli-bucket", check=False)
    assert failed.returncode != 0 and "BucketNotEmpty" in failed.stderr
    aws(store, "s3", "rm", "--recursive", "s3://cli-bucket/")
    aws(store, "s3", "rb", "s3://cli-bucket")
    assert "cli-bucket" not in [b["Name"] for b in store.s3.list_buckets()["Buckets"]]


def test_objects_metadata_ranges_conditions_copies_and_tags(store):
    s3 = store.s3
    s3.create_bucket(Bucket="objects")
    body = bytes(range(256)) * 40
    put = s3.put_object(Bucket="objects", Key="dir/a b+c é.bin", Body=body, ContentType="application/x-test", Metadata={"Owner": "me"},
                        CacheControl="max-age=60", Tagging="team=core&tier=gold")
    assert put["ETag"] == '"%s"' % hashlib.md5(body).hexdigest()
    got = s3.get_object(Bucket="objects", Key="dir/a b+c é.bin")
    assert got["Body"].read() == body
    assert got["ContentType"] == "application/x-test" and got["Metadata"] == {"owner": "me"} and got["CacheControl"] == "max-age=60"
    assert got["TagCount"] == 2

    ranged = s3.get_object(Bucket="objects", Key="dir/a b+c é.bin", Range="bytes=10-19")
    assert ranged["ResponseMetadata"]["HTTPStatusCode"] == 206 and ranged["ContentRange"] == "bytes 10-19/10240"
    assert ranged["Body"].read() == body[10:20]
    assert s3.get_object(Bucket="objects", Key="dir/a b+c é.bin", Range="bytes=-5")["Body"].read() == body[-5:]
    assert error_of(lambda: s3.get_object(Bucket="objects", Key="dir/a b+c é.bin", Range="bytes=20000-")) == ("InvalidRange", 416)
    overridden = s3.get_object(Bucket="objects", Key="dir/a b+c é.bin", ResponseContentType="text/plain")
    assert overridden["ContentType"] == "text/plain"

    etag = put["ETag"]
    assert error_of(lambda: s3.get_object(Bucket="objects", Key="dir/a b+c é.bin", IfNoneMatch=etag)) == ("304", 304)
    assert error_of(lambda: s3.get_object(Bucket="objects", Key="dir/a b+c é.bin", IfMatch='"nope"')) == ("PreconditionFailed", 412)
    assert s3.get_object(Bucket="objects", Key="dir/a b+c é.bin", IfMatch=etag)["ContentLength"] == len(body)
    assert error_of(lambda: s3.put_object(Bucket="objects", Key="dir/a b+c é.bin", Body=b"x", IfNoneMatch="*")) == ("PreconditionFailed", 412)

    copied = s3.copy_object(Bucket="objects", Key="copy", CopySource={"Bucket": "objects", "Key": "dir/a b+c é.bin"})
    assert copied["CopyObjectResult"]["ETag"] == etag
    assert s3.head_object(Bucket="objects", Key="copy")["Metadata"] == {"owner": "me"}
    s3.copy_object(Bucket="objects", Key="copy", CopySource="objects/copy", MetadataDirective="REPLACE", Metadata={"v": "2"},
                   ContentType="text/csv")
    replaced = s3.head_object(Bucket="objects", Key="copy")
    assert replaced["Metadata"] == {"v": "2"} and replaced["ContentType"] == "text/csv"
    assert error_of(lambda: s3.copy_object(Bucket="objects", Key="copy", CopySource="objects/copy")) == ("InvalidRequest", 400)

    assert s3.get_object_tagging(Bucket="objects", Key="dir/a b+c é.bin")["TagSet"] == [
        {"Key": "team", "Value": "core"}, {"Key": "tier", "Value": "gold"}]
    s3.put_object_tagging(Bucket="objects", Key="copy", Tagging={"TagSet": [{"Key": "k", "Value": "v"}]})
    assert s3.get_object_tagging(Bucket="objects", Key="copy")["TagSet"] == [{"Key": "k", "Value": "v"}]
    s3.delete_object_tagging(Bucket="objects", Key="copy")
    assert s3.get_object_tagging(Bucket="objects", Key="copy")["TagSet"] == []

    deleted = s3.delete_objects(Bucket="objects", Delete={"Objects": [{"Key": "copy"}, {"Key": "never-there"}]})
    assert sorted(d["Key"] for d in deleted["Deleted"]) == ["copy", "never-there"]
    assert error_of(lambda: s3.head_object(Bucket="objects", Key="copy")) == ("404", 404)


def test_listings_page_roll_up_and_encode_keys(store):
    s3 = store.s3
    s3.create_bucket(Bucket="listings")
    keys = ["a/1", "a/2", "b", "c/x/1", "c/y", "d e", "f+g", "é"]
    for key in keys:
        s3.put_object(Bucket="listings", Key=key, Body=key.encode())
    v2 = s3.list_objects_v2(Bucket="listings")
    assert [o["Key"] for o in v2["Contents"]] == keys and v2["KeyCount"] == len(keys)
    rolled = s3.list_objects_v2(Bucket="listings", Delimiter="/")
    assert [p["Prefix"] for p in rolled["CommonPrefixes"]] == ["a/", "c/"]
    assert [o["Key"] for o in rolled["Contents"]] == ["b", "d e", "f+g", "é"]
    under = s3.list_objects_v2(Bucket="listings", Prefix="c/", Delimiter="/")
    assert [p["Prefix"] for p in under["CommonPrefixes"]] == ["c/x/"] and [o["Key"] for o in under["Contents"]] == ["c/y"]
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket="listings", PaginationConfig={"PageSize": 3})
    seen = [o["Key"] for page in pages for o in page.get("Contents", [])]
    assert seen == keys
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="listings", StartAfter="c/y")["Contents"]] == ["d e", "f+g", "é"]
    v1_pages = s3.get_paginator("list_objects").paginate(Bucket="listings", Delimiter="/", PaginationConfig={"PageSize": 2})
    entries = []
    for page in v1_pages:
        entries += [p["Prefix"] for p in page.get("CommonPrefixes", [])] + [o["Key"] for o in page.get("Contents", [])]
    assert sorted(entries) == sorted(["a/", "b", "c/", "d e", "f+g", "é"])
    assert s3.list_objects(Bucket="listings", Prefix="zzz").get("Contents") is None


def test_multipart_upload_with_sha256_checksums(store):
    s3 = store.s3
    s3.create_bucket(Bucket="multipart")
    upload = s3.create_multipart_upload(Bucket="multipart", Key="joined", ChecksumAlgorithm="SHA256", Metadata={"kind": "joined"})
    uid = upload["UploadId"]
    first, second = os.urandom(5 * 1024 * 1024), os.urandom(1000)
    parts = []
    for number, data in [(1, first), (2, second)]:
        answer = s3.upload_part(Bucket="multipart", Key="joined", UploadId=uid, PartNumber=number, Body=data, ChecksumAlgorithm="SHA256")
        assert answer["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(data).digest()).decode()
        parts.append({"PartNumber": number, "ETag": answer["ETag"], "ChecksumSHA256": answer["ChecksumSHA256"]})
    listed = s3.list_parts(Bucket="multipart", Key="joined", UploadId=uid)
    assert [p["Size"] for p in listed["Parts"]] == [len(first), len(second)]
    assert [u["UploadId"] for u in s3.list_multipart_uploads(Bucket="multipart")["Uploads"]] == [uid]
    assert error_of(lambda: s3.complete_multipart_upload(Bucket="multipart", Key="joined", UploadId=uid,
                                                         MultipartUpload={"Parts": list(reversed(parts))})) == ("InvalidPartOrder", 400)
    done = s3.complete_multipart_upload(Bucket="multipart", Key="joined", UploadId=uid, MultipartUpload={"Parts": parts})
    composite = hashlib.sha256(hashlib.sha256(first).digest() + hashlib.sha256(second).digest()).digest()
    assert done["ChecksumSHA256"] == base64.b64encode(composite).decode() + "-2"
    etags = hashlib.md5(hashlib.md5(first).digest() + hashlib.md5(second).digest()).hexdigest()
    assert done["ETag"] == '"%s-2"' % etags
    head = s3.head_object(Bucket="multipart", Key="joined", ChecksumMode="ENABLED")
    assert head["ContentLength"] == len(first) + len(second) and head["Metadata"] == {"kind": "joined"}
    assert head["ChecksumSHA256"] == done["ChecksumSHA256"]
    assert s3.get_object(Bucket="multipart", Key="joined")["Body"].read() == first + second
    assert s3.get_object(Bucket="multipart", Key="joined", PartNumber=2)["Body"].read() == second
    assert error_of(lambda: s3.upload_part(Bucket="multipart", Key="joined", UploadId=uid, PartNumber=3, Body=b"x")) == ("NoSuchUpload", 404)

    aborted = s3.create_multipart_upload(Bucket="multipart", Key="dropped")["UploadId"]
    s3.upload_part(Bucket="multipart", Key="dropped", UploadId=aborted, PartNumber=1, Body=b"tiny")
    s3.abort_multipart_upload(Bucket="multipart", Key="dropped", UploadId=aborted)
    assert s3.list_multipart_uploads(Bucket="multipart").get("Uploads") is None


def test_a_200_mb_multipart_upload_with_checksums_by_boto3s_transfer_manager(store, tmp_path):
    """boto3's upload_file: 8 MB parts sent in parallel, each with the CRC32 checksum current
    botocore computes by default (aws-chunked with a trailer); the object read back whole."""
    from boto3.s3.transfer import TransferConfig
    s3 = store.s3
    s3.create_bucket(Bucket="big")
    path = tmp_path / "big.bin"
    block = os.urandom(1 << 20)
    digest = hashlib.sha256()
    with open(path, "wb") as f:
        for index in range(200):
            chunk = block[index:] + block[:index]
            f.write(chunk)
            digest.update(chunk)
    s3.upload_file(str(path), "big", "two-hundred", Config=TransferConfig(multipart_chunksize=8 << 20, max_concurrency=4),
                   ExtraArgs={"ChecksumAlgorithm": "CRC32"})
    head = s3.head_object(Bucket="big", Key="two-hundred", ChecksumMode="ENABLED")
    assert head["ContentLength"] == 200 << 20 and head["ETag"].endswith('-25"'), head
    assert head["ChecksumCRC32"].endswith("-25"), head
    back = hashlib.sha256()
    for chunk in s3.get_object(Bucket="big", Key="two-hundred")["Body"].iter_chunks(1 << 20):
        back.update(chunk)
    assert back.hexdigest() == digest.hexdigest()
    s3.delete_object(Bucket="big", Key="two-hundred")


def test_multipart_copies_part_by_part(store, tmp_path):
    """UploadPartCopy: `aws s3 cp` between buckets copies objects above its 8 MB threshold in parts;
    boto3 copies a byte range of another object into a part, refused past the source's end."""
    s3 = store.s3
    s3.create_bucket(Bucket="copy-from")
    s3.create_bucket(Bucket="copy-to")
    data = os.urandom(12 * 1024 * 1024 + 7)
    s3.put_object(Bucket="copy-from", Key="big", Body=data)
    done = aws(store, "s3", "cp", "s3://copy-from/big", "s3://copy-to/big")
    assert "copy:" in done.stdout, done.stdout
    copied = s3.get_object(Bucket="copy-to", Key="big")
    assert copied["Body"].read() == data and copied["ETag"].endswith('-2"'), copied["ETag"]

    upload = s3.create_multipart_upload(Bucket="copy-to", Key="ranged", ChecksumAlgorithm="CRC32")["UploadId"]
    first = s3.upload_part_copy(Bucket="copy-to", Key="ranged", UploadId=upload, PartNumber=1, CopySource={"Bucket": "copy-from", "Key": "big"},
                                CopySourceRange="bytes=0-5242879")["CopyPartResult"]
    assert first["ETag"] == '"' + hashlib.md5(data[:5 << 20]).hexdigest() + '"'
    assert first["ChecksumCRC32"] == base64.b64encode((zlib.crc32(data[:5 << 20]) & 0xFFFFFFFF).to_bytes(4, "big")).decode()
    second = s3.upload_part_copy(Bucket="copy-to", Key="ranged", UploadId=upload, PartNumber=2, CopySource="copy-from/big",
                                 CopySourceRange="bytes=10-19")["CopyPartResult"]
    assert error_of(lambda: s3.upload_part_copy(Bucket="copy-to", Key="ranged", UploadId=upload, PartNumber=3, CopySource="copy-from/big",
                                                CopySourceRange=f"bytes=0-{len(data)}")) == ("InvalidArgument", 400)
    assert error_of(lambda: s3.upload_part_copy(Bucket="copy-to", Key="ranged", UploadId=upload, PartNumber=3,
                                                CopySource="copy-from/missing")) == ("NoSuchKey", 404)
    # ListMultipartUploads in pages, as boto3's paginator asks for them.
    others = [s3.create_multipart_upload(Bucket="copy-to", Key=key)["UploadId"] for key in ("a-key", "z-key")]
    first_page = s3.list_multipart_uploads(Bucket="copy-to", MaxUploads=2)
    assert first_page["IsTruncated"] and [u["Key"] for u in first_page["Uploads"]] == ["a-key", "ranged"]
    pages = s3.get_paginator("list_multipart_uploads").paginate(Bucket="copy-to", PaginationConfig={"PageSize": 1})
    assert [u["Key"] for page in pages for u in page.get("Uploads", [])] == ["a-key", "ranged", "z-key"]
    for key, other in zip(("a-key", "z-key"), others):
        s3.abort_multipart_upload(Bucket="copy-to", Key=key, UploadId=other)
    s3.complete_multipart_upload(Bucket="copy-to", Key="ranged", UploadId=upload, MultipartUpload={"Parts": [
        {"PartNumber": 1, "ETag": first["ETag"], "ChecksumCRC32": first["ChecksumCRC32"]},
        {"PartNumber": 2, "ETag": second["ETag"], "ChecksumCRC32": second["ChecksumCRC32"]}]})
    assert s3.get_object(Bucket="copy-to", Key="ranged")["Body"].read() == data[:5 << 20] + data[10:20]


def test_errors_are_s3s(store):
    s3 = store.s3
    s3.create_bucket(Bucket="errors")
    assert error_of(lambda: s3.get_object(Bucket="no-such-bucket", Key="k")) == ("NoSuchBucket", 404)
    assert error_of(lambda: s3.get_object(Bucket="errors", Key="missing")) == ("NoSuchKey", 404)
    assert error_of(lambda: s3.head_bucket(Bucket="no-such-bucket")) == ("404", 404)
    assert error_of(lambda: s3.create_bucket(Bucket="Bad_Name")) == ("InvalidBucketName", 400)
    md5_of_other = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    assert error_of(lambda: s3.put_object(Bucket="errors", Key="k", Body=b"body", ContentMD5=md5_of_other)) == ("BadDigest", 400)
    assert error_of(lambda: s3.put_object(Bucket="errors", Key="k", Body=b"body", ChecksumCRC32="AAAAAA==")) == ("BadDigest", 400)
    assert error_of(lambda: s3.put_object(Bucket="errors", Key="k", Body=b"body", ContentMD5="not-base64")) == ("InvalidDigest", 400)
    assert error_of(lambda: s3.get_bucket_policy(Bucket="errors")) == ("NoSuchBucketPolicy", 404)
    policy = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                                                                "Resource": "arn:aws:s3:::errors/*"}]})
    s3.put_bucket_policy(Bucket="errors", Policy=policy)
    assert json.loads(s3.get_bucket_policy(Bucket="errors")["Policy"]) == json.loads(policy)
    s3.delete_bucket_policy(Bucket="errors")
    assert error_of(lambda: s3.put_bucket_policy(Bucket="errors", Policy="not json")) == ("MalformedPolicy", 400)
    assert error_of(lambda: s3.get_bucket_acl(Bucket="errors")) == ("NotImplemented", 501)
    # Nothing of a refused upload stays behind.
    assert error_of(lambda: s3.head_object(Bucket="errors", Key="k")) == ("404", 404)

    stranger = boto3.client("s3", endpoint_url=store.endpoint, region_name="us-east-1", aws_access_key_id="AKIANOBODY",
                            aws_secret_access_key="x", config=NO_RETRIES)
    assert error_of(lambda: stranger.list_buckets()) == ("InvalidAccessKeyId", 403)
    wrong = boto3.client("s3", endpoint_url=store.endpoint, region_name="us-east-1", aws_access_key_id=store.key[0],
                         aws_secret_access_key="wrong", config=NO_RETRIES)
    assert error_of(lambda: wrong.list_buckets()) == ("SignatureDoesNotMatch", 403)
    with pytest.raises(urllib.error.HTTPError) as anonymous:
        urllib.request.urlopen(urllib.request.Request(store.endpoint + "/errors/k", headers={"Host": "errors.localhost"}), timeout=10)
    assert anonymous.value.code == 403 and b"<Code>AccessDenied</Code>" in anonymous.value.read()


def signed(store, method, path, headers, body, payload):
    """A request signed by botocore's own SigV4 with `payload` as the declared body hash."""
    class DeclaredPayload(botocore.auth.S3SigV4Auth):
        def payload(self, request):
            return payload

    request = botocore.awsrequest.AWSRequest(method=method, url=store.endpoint + path, data=body, headers=headers)
    DeclaredPayload(botocore.credentials.Credentials(*store.key), "s3", "us-east-1").add_auth(request)
    return request


def send(store, request, host=None):
    connection = http.client.HTTPConnection("127.0.0.1", store.port, timeout=30)
    headers = dict(request.headers)
    if host:
        headers["Host"] = host
    connection.request(request.method, request.url.split(str(store.port), 1)[1], body=request.body, headers=headers)
    response = connection.getresponse()
    return response.status, response.read()


def test_aws_chunked_bodies_and_virtual_hosts(store):
    store.s3.create_bucket(Bucket="chunked")
    data = b"streamed " * 10000
    crc = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    body = b"".join([b"%x\r\n" % len(data[i:i + 8192]) + data[i:i + 8192] + b"\r\n" for i in range(0, len(data), 8192)])
    body += b"0\r\nx-amz-checksum-crc32:" + crc.encode() + b"\r\n\r\n"
    headers = {"Content-Encoding": "aws-chunked", "x-amz-decoded-content-length": str(len(data)), "x-amz-trailer": "x-amz-checksum-crc32",
               "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER"}
    status, answer = send(store, signed(store, "PUT", "/chunked/trailer", headers, body, "STREAMING-UNSIGNED-PAYLOAD-TRAILER"))
    assert status == 200, answer
    got = store.s3.get_object(Bucket="chunked", Key="trailer", ChecksumMode="ENABLED")
    assert got["Body"].read() == data and got["ChecksumCRC32"] == crc and "ContentEncoding" not in got

    bad = body.replace(crc.encode(), b"AAAAAA==")
    status, answer = send(store, signed(store, "PUT", "/chunked/bad", headers, bad, "STREAMING-UNSIGNED-PAYLOAD-TRAILER"))
    assert status == 400 and b"<Code>BadDigest</Code>" in answer
    cut = body[:-40]
    status, answer = send(store, signed(store, "PUT", "/chunked/cut", {**headers, "Content-Length": str(len(cut))}, cut,
                                        "STREAMING-UNSIGNED-PAYLOAD-TRAILER"))
    assert status == 400
    assert error_of(lambda: store.s3.head_object(Bucket="chunked", Key="bad")) == ("404", 404)

    # A declared SHA-256 that is not the body's.
    wrong = signed(store, "PUT", "/chunked/sha", {"x-amz-content-sha256": hashlib.sha256(b"other").hexdigest()}, b"body",
                   hashlib.sha256(b"other").hexdigest())
    status, answer = send(store, wrong)
    assert status == 400 and b"XAmzContentSHA256Mismatch" in answer

    # Virtual-host addressing: the bucket in the Host header, the key alone in the path.
    virtual = botocore.awsrequest.AWSRequest(method="GET", url=f"http://chunked.localhost:{store.port}/trailer")
    botocore.auth.S3SigV4Auth(botocore.credentials.Credentials(*store.key), "s3", "us-east-1").add_auth(virtual)
    connection = http.client.HTTPConnection("127.0.0.1", store.port, timeout=30)
    connection.request("GET", "/trailer", headers={**dict(virtual.headers), "Host": f"chunked.localhost:{store.port}"})
    response = connection.getresponse()
    assert response.status == 200 and response.read() == data


def test_objects_survive_kill9_whole_or_not_at_all(tmp_path):
    server = Ecsd(str(tmp_path / "d")).start()
    s3 = boto3.client("s3", endpoint_url=server.endpoint, region_name="us-east-1", config=NO_RETRIES)
    s3.create_bucket(Bucket="durable")
    first = os.urandom(3 * 1024 * 1024)
    s3.put_object(Bucket="durable", Key="k", Body=first)
    # A second version is half sent when ecsd is killed.
    second = os.urandom(3 * 1024 * 1024)
    request = signed(server_with_key(server), "PUT", "/durable/k", {"x-amz-content-sha256": hashlib.sha256(second).hexdigest(),
                                                                     "Content-Length": str(len(second))}, second,
                     hashlib.sha256(second).hexdigest())
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    connection.putrequest("PUT", "/durable/k", skip_host=True, skip_accept_encoding=True)
    for name, value in request.headers.items():
        connection.putheader(name, value)
    connection.endheaders()
    connection.send(second[: len(second) // 2])
    s3.list_objects_v2(Bucket="durable")  # the half body has reached ecsd's tmp/ by now
    server.kill9()
    connection.close()
    # A file no record names (as a crash between rename and commit leaves one).
    stray = os.path.join(server.data_dir, "s3", "objects", "zz")
    os.makedirs(stray, exist_ok=True)
    open(os.path.join(stray, "stray"), "wb").write(b"orphan")
    server.start()
    assert s3.get_object(Bucket="durable", Key="k")["Body"].read() == first
    assert os.listdir(os.path.join(server.data_dir, "s3", "tmp")) == []
    assert not os.path.exists(os.path.join(stray, "stray"))
    # Replaced and deleted objects give their files back.
    s3.put_object(Bucket="durable", Key="k", Body=b"small")
    s3.delete_object(Bucket="durable", Key="k")
    files = [name for _, _, names in os.walk(os.path.join(server.data_dir, "s3", "objects")) for name in names]
    assert files == []
    server.stop()


def server_with_key(server):
    server.key = (os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"])
    return server


def test_policies_decide_per_bucket_and_key(store):
    admin_iam = boto3.client("iam", endpoint_url=store.endpoint, region_name="us-east-1", aws_access_key_id=store.key[0],
                             aws_secret_access_key=store.key[1])
    store.s3.create_bucket(Bucket="shared")
    store.s3.put_object(Bucket="shared", Key="public/a", Body=b"a")
    store.s3.put_object(Bucket="shared", Key="private/b", Body=b"b")
    admin_iam.create_user(UserName="reader")
    admin_iam.put_user_policy(UserName="reader", PolicyName="read-public", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "arn:aws:s3:::shared/public/*"},
                      {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::shared"}]}))
    key = admin_iam.create_access_key(UserName="reader")["AccessKey"]
    reader = boto3.client("s3", endpoint_url=store.endpoint, region_name="us-east-1", aws_access_key_id=key["AccessKeyId"],
                          aws_secret_access_key=key["SecretAccessKey"], config=NO_RETRIES)
    assert reader.get_object(Bucket="shared", Key="public/a")["Body"].read() == b"a"
    assert [o["Key"] for o in reader.list_objects_v2(Bucket="shared")["Contents"]] == ["private/b", "public/a"]
    with pytest.raises(ClientError) as denied:
        reader.get_object(Bucket="shared", Key="private/b")
    error = denied.value.response["Error"]
    assert error["Code"] == "AccessDenied" and "s3:GetObject" in error["Message"] and "arn:aws:s3:::shared/private/b" in error["Message"]
    assert error_of(lambda: reader.put_object(Bucket="shared", Key="public/new", Body=b"x")) == ("AccessDenied", 403)
    # DeleteObjects decides per key: a policy on keys (not on the bucket) lets some go and not others.
    admin_iam.put_user_policy(UserName="reader", PolicyName="delete-public", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:DeleteObject", "Resource": "arn:aws:s3:::shared/public/*"}]}))
    deleted = reader.delete_objects(Bucket="shared", Delete={"Objects": [{"Key": "public/a"}, {"Key": "private/b"}]})
    assert [d["Key"] for d in deleted.get("Deleted", [])] == ["public/a"]
    assert [(e["Key"], e["Code"]) for e in deleted["Errors"]] == [("private/b", "AccessDenied")]
    # A copy needs s3:GetObject on its source.
    admin_iam.put_user_policy(UserName="reader", PolicyName="write-public", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::shared/public/*"}]}))
    assert error_of(lambda: reader.copy_object(Bucket="shared", Key="public/stolen", CopySource="shared/private/b")) == ("AccessDenied", 403)
    assert error_of(lambda: reader.head_object(Bucket="shared", Key="public/new")) == ("404", 404)
    assert error_of(lambda: reader.list_buckets()) == ("AccessDenied", 403)


def test_the_s3_example_runs_as_written(tmp_path):
    """Every sh block of Examples/s3/README.md, in order, in one shell, against an ecsd without authentication (as --dev runs)."""
    import re

    from conftest import ROOT, example

    server = Ecsd(str(tmp_path / "d")).start()
    try:
        with open(example("s3", "README.md")) as f:
            blocks = re.findall(r"```sh\n(.*?)```", f.read(), re.S)
        script = "set -euo pipefail\n" + "\n".join(blocks)
        done = subprocess.run(["bash", "-c", script.replace("http://127.0.0.1:8340", server.endpoint)], cwd=ROOT, env=dict(os.environ),
                              capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "<h1>hello</h1>" in done.stdout and "text/plain\tme\t" in done.stdout and '"bytes 0-99/20000000"' in done.stdout
        assert "team\tweb" in done.stdout and "remove_bucket: examples" in done.stdout
        assert "s3:TestEvent" in done.stdout and '"eventName":"ObjectCreated:Put"' in done.stdout and '"key":"2026/q3.csv"' in done.stdout
    finally:
        server.stop()


def test_presigned_urls_are_bound_to_what_they_sign(store):
    s3 = store.s3
    s3.create_bucket(Bucket="presigned")
    s3.create_bucket(Bucket="secrets")
    s3.put_object(Bucket="secrets", Key="k", Body=b"secret")
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": "presigned", "Key": "upload"}, ExpiresIn=60)
    # An x-amz-* header the URL did not sign (here one that would turn the PUT into a copy) is refused.
    # (Content-Type is part of what a Signature Version 2 URL signs: sent empty, as it was signed.)
    request = urllib.request.Request(put_url, data=b"", method="PUT", headers={"x-amz-copy-source": "secrets/k", "Content-Type": ""})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 403 and b"<Code>AccessDenied</Code>" in refused.value.read()
    urllib.request.urlopen(urllib.request.Request(put_url, data=b"mine", method="PUT", headers={"Content-Type": ""}), timeout=10)
    assert s3.get_object(Bucket="presigned", Key="upload")["Body"].read() == b"mine"
    # An object opened in a browser from a presigned link runs no script on the console's origin.
    html_url = s3.generate_presigned_url("get_object", Params={"Bucket": "presigned", "Key": "upload", "ResponseContentType": "text/html"},
                                         ExpiresIn=60)
    with urllib.request.urlopen(html_url, timeout=10) as opened:
        assert opened.headers["Content-Type"] == "text/html" and opened.headers["Content-Security-Policy"] == "sandbox"
        assert opened.headers["X-Content-Type-Options"] == "nosniff"
    # The same with a Signature Version 4 URL.
    v4 = boto3.client("s3", endpoint_url=store.endpoint, region_name="us-east-1", aws_access_key_id=store.key[0],
                      aws_secret_access_key=store.key[1], config=Config(signature_version="s3v4"))
    v4_put = v4.generate_presigned_url("put_object", Params={"Bucket": "presigned", "Key": "v4"}, ExpiresIn=60)
    with pytest.raises(urllib.error.HTTPError) as refused_v4:
        urllib.request.urlopen(urllib.request.Request(v4_put, data=b"", method="PUT", headers={"x-amz-copy-source": "secrets/k"}), timeout=10)
    body = refused_v4.value.read()
    assert refused_v4.value.code == 403 and b"<HeadersNotSigned>x-amz-copy-source</HeadersNotSigned>" in body, body
    urllib.request.urlopen(urllib.request.Request(v4_put, data=b"four", method="PUT"), timeout=10)
    assert s3.get_object(Bucket="presigned", Key="v4")["Body"].read() == b"four"
    # A Signature Version 2 URL (what the aws CLI v1's `s3 presign` makes) for one bucket does not
    # open another when sent to that one's virtual host.
    v2 = boto3.client("s3", endpoint_url=store.endpoint, region_name="us-east-1", aws_access_key_id=store.key[0],
                      aws_secret_access_key=store.key[1], config=Config(signature_version="s3"))
    url = v2.generate_presigned_url("get_object", Params={"Bucket": "presigned", "Key": "upload"}, ExpiresIn=60)
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == b"mine"
    path_and_query = url.split(str(store.port), 1)[1]
    connection = http.client.HTTPConnection("127.0.0.1", store.port, timeout=10)
    connection.request("GET", path_and_query, headers={"Host": f"secrets.localhost:{store.port}"})
    response = connection.getresponse()
    assert response.status == 403 and b"SignatureDoesNotMatch" in response.read()


def test_conditional_creates_race_and_one_wins(store):
    import concurrent.futures

    store.s3.create_bucket(Bucket="races")

    def create(index):
        client = boto3.client("s3", endpoint_url=store.endpoint, region_name="us-east-1", aws_access_key_id=store.key[0],
                              aws_secret_access_key=store.key[1], config=NO_RETRIES)
        try:
            client.put_object(Bucket="races", Key="once", Body=os.urandom(2 * 1024 * 1024), IfNoneMatch="*")
            return "created"
        except ClientError as error:
            return error.response["Error"]["Code"]

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(create, range(8)))
    assert outcomes.count("created") == 1 and outcomes.count("PreconditionFailed") == 7, outcomes


def test_lambda_code_from_the_store_is_read_as_the_caller(store):
    from functions_support import ROLE, zip_files

    admin = dict(endpoint_url=store.endpoint, region_name="us-east-1", aws_access_key_id=store.key[0], aws_secret_access_key=store.key[1])
    iam = boto3.client("iam", **admin)
    store.s3.create_bucket(Bucket="code-private")
    store.s3.put_object(Bucket="code-private", Key="fn.zip", Body=zip_files({"bootstrap": ("#!/bin/sh\necho hi\n", 0o755)}))
    iam.create_user(UserName="deployer")
    iam.put_user_policy(UserName="deployer", PolicyName="functions", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["lambda:*", "iam:PassRole"], "Resource": "*"}]}))
    key = iam.create_access_key(UserName="deployer")["AccessKey"]
    lam = boto3.client("lambda", endpoint_url=store.endpoint, region_name="us-east-1", aws_access_key_id=key["AccessKeyId"],
                       aws_secret_access_key=key["SecretAccessKey"], config=NO_RETRIES)
    create = dict(FunctionName="from-private", Runtime="provided.al2023", Handler="x.handler", Role=ROLE,
                  Code={"S3Bucket": "code-private", "S3Key": "fn.zip"})
    with pytest.raises(ClientError) as denied:
        lam.create_function(**create)
    assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "s3:GetObject" in denied.value.response["Error"]["Message"]
    iam.put_user_policy(UserName="deployer", PolicyName="read-code", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::code-private/*"}]}))
    assert lam.create_function(**create)["CodeSize"] > 0
