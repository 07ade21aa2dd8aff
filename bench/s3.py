"""The direct-to-S3 side of bench/run.sh's upload figure, with boto3.

    s3.py presign-put BUCKET KEY   print a presigned PUT URL (for curl -T)
    s3.py delete BUCKET KEY        remove the object

The endpoint comes from S3_ENDPOINT, the key pair from AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY; path-style addressing, region us-east-1, SigV4.
"""

import os
import sys

import boto3
from botocore.config import Config


def client():
    return boto3.client(
        "s3",
        endpoint_url=os.environ["S3_ENDPOINT"],
        region_name=os.environ.get("S3_REGION", "us-east-1"),
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )


def main():
    command, bucket, key = sys.argv[1:4]
    if command == "presign-put":
        print(client().generate_presigned_url(
            "put_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=3600))
    elif command == "delete":
        client().delete_object(Bucket=bucket, Key=key)
    else:
        sys.exit(f"unknown command {command}")


if __name__ == "__main__":
    main()
