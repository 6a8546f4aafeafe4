# Signs a request with botocore (the AWS CLI's and boto3's signer) and prints it as JSON, for the
# AWS injection tests. No network: add_auth and generate_presigned_url only compute.
import json, sys
from botocore.auth import SigV4Auth, S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.config import Config

spec = json.loads(sys.argv[1])
creds = Credentials(spec["akid"], spec["secret"], spec["token"])
if spec["kind"] == "presign":
    import boto3
    s3 = boto3.client("s3", region_name="us-east-1", aws_access_key_id=spec["akid"], aws_secret_access_key=spec["secret"],
                      aws_session_token=spec["token"], config=Config(signature_version="s3v4"))
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "bucket", "Key": spec["key"]}, ExpiresIn=spec["expires"])
    print(json.dumps({"method": "GET", "url": url, "headers": {}}))
else:
    req = AWSRequest(method=spec["method"], url=spec["url"], data=spec["body"].encode(), headers=spec.get("headers", {}))
    if spec["kind"] == "s3":
        req.context["client_config"] = Config(s3={"payload_signing_enabled": spec.get("signPayload", False)})
        auth = S3SigV4Auth(creds, "s3", "us-east-1")
    else:
        auth = SigV4Auth(creds, spec["service"], "us-east-1")
    auth.add_auth(req)
    p = req.prepare()
    print(json.dumps({"method": p.method, "url": p.url, "headers": dict(p.headers.items())}))
