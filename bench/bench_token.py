#!/usr/bin/env python3
"""Prints a publisher token for the hub under benchmark: HS256 with the
secret in $SECRET, the claims sse-hub's minting writes, audience "bench"
(the hub is started with --audience bench), publish on every topic, valid
for a day. Shared by compare.sh, profile_publish.sh and publish_ab.sh."""
import base64, hashlib, hmac, json, os, time


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


now = int(time.time())
head = b64(json.dumps({"alg": "HS256", "typ": "at+jwt"}).encode())
claims = b64(json.dumps({"aud": "bench", "iat": now, "exp": now + 86400,
    "authorization_details": [{"type": "https://mercure.rocks/authorization-detail",
        "actions": ["publish"], "topics": [{"match": "*"}]}]}).encode())
sig = hmac.new(os.environ["SECRET"].encode(), f"{head}.{claims}".encode(), hashlib.sha256).digest()
print(f"{head}.{claims}.{b64(sig)}")
