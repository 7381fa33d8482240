"""The S3 server the object-storage tests share: moto's, on 127.0.0.1, checking credentials,
reached through ``s3://bucket/prefix`` and ``AWS_ENDPOINT_URL`` exactly as a user points n2r at
MinIO or a private S3. Helpers that read the bucket back: ``bucket.py``."""
import os

import pytest

from tests.pipelines.bucket import free_port

ALLOW_ALL = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}'


@pytest.fixture(scope="session")
def s3_env():
    """A moto S3 server that checks credentials (its first 3 requests, which create the IAM user
    and key, excepted), with bucket ``n2r-test``; the environment a user's shell would have."""
    previous = os.environ.get("INITIAL_NO_AUTH_ACTION_COUNT")
    os.environ["INITIAL_NO_AUTH_ACTION_COUNT"] = "3"                 # read when moto is imported
    import boto3
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="setup",
                       aws_secret_access_key="setup")
    iam.create_user(UserName="n2r")
    key = iam.create_access_key(UserName="n2r")["AccessKey"]
    iam.put_user_policy(UserName="n2r", PolicyName="all", PolicyDocument=ALLOW_ALL)
    env = {**os.environ, "AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": endpoint,
           "RAY_AUTH_MODE": "disabled", "HF_HUB_OFFLINE": "1"}
    env.pop("RAY_ADDRESS", None)
    env.pop("INITIAL_NO_AUTH_ACTION_COUNT", None)
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=key["AccessKeyId"],
                 aws_secret_access_key=key["SecretAccessKey"]).create_bucket(Bucket="n2r-test")
    yield env
    server.stop()
    if previous is None:
        os.environ.pop("INITIAL_NO_AUTH_ACTION_COUNT", None)
    else:
        os.environ["INITIAL_NO_AUTH_ACTION_COUNT"] = previous
