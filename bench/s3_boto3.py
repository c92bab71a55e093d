"""Upload and download MB/s of one file with boto3 (its default transfer
settings: multipart beyond 8 MiB, 10 threads), against an S3-protocol
server. Usage: s3_boto3.py ENDPOINT BUCKET FILE -> prints "up down" MB/s."""
import os
import sys
import time

import boto3

endpoint, bucket, path = sys.argv[1:4]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
size = os.path.getsize(path) / 1e6
t = time.perf_counter()
s3.upload_file(path, bucket, "boto3/blob")
up = time.perf_counter() - t
out = path + ".down"
t = time.perf_counter()
s3.download_file(bucket, "boto3/blob", out)
down = time.perf_counter() - t
os.remove(out)
print(f"{size / up:.1f} {size / down:.1f}")
