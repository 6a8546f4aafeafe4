"""boto3 as a box would run it, for test/egress/aws-intercept.test.ts: one call against
--endpoint-url, credentials and proxy from the environment; prints the answer as JSON."""
import json
import sys

import boto3
import botocore
from botocore.config import Config

spec = json.loads(sys.argv[1])
s3 = {"addressing_style": "path"}
if "payload_signing_enabled" in spec:
    s3["payload_signing_enabled"] = spec["payload_signing_enabled"]
client = boto3.client(spec["service"], endpoint_url=spec["endpoint"], region_name="us-east-1", config=Config(s3=s3, retries={"max_attempts": 1}))
if spec["op"] == "get_caller_identity":
    answer = client.get_caller_identity()
else:
    with open(spec["file"], "rb") as body:
        extra = {"ChecksumAlgorithm": spec["checksum_algorithm"]} if "checksum_algorithm" in spec else {}
        answer = client.put_object(Bucket=spec["bucket"], Key=spec["key"], Body=body, **extra)
answer.pop("ResponseMetadata", None)
print(json.dumps({"botocore": botocore.__version__, "answer": answer}))
