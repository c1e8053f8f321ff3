"""`make demo`: the provider side of privatelink-autowire, end to end, on the emulator.

Account A (provider) gets a VPC, an NLB and an endpoint service that requires acceptance.
The real `provider` binary, under cargo-lambda's runtime emulator, handles a CloudFormation
Create for Custom::ServicePublication and answers to a local capture server standing in for
the pre-signed S3 URL. The demo prints the answer and the published descriptor, shares it
with account B through AWS RAM, reads it from B by ARN, and shows that B calls the same AZ IDs
by different AZ names.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "emulator"))

from capture import CaptureServer  # noqa: E402
from lambda_harness import LambdaHarness  # noqa: E402
from testbed_fixtures import function_env, REGION, assume_account, build_provider_network  # noqa: E402

A, B = "111111111111", "222222222222"
FN_ARN = f"arn:aws:lambda:{REGION}:{A}:function:provider"


def say(title: str) -> None:
    print(f"\n== {title}", flush=True)


def main() -> int:
    url = os.environ["AUTOWIRE_EMULATOR_URL"]
    bootstrap = os.environ["AUTOWIRE_PROVIDER_BOOTSTRAP"]
    a, b = assume_account(url, A), assume_account(url, B)

    say(f"account A ({A}): VPC, NLB with a TLS listener on 443, endpoint service (acceptance required)")
    net = build_provider_network(a, ["use1-az1", "use1-az4"], listeners=[("TLS", 443)],
                                 acceptance_required=True, allowed_accounts=[B])
    print(f"endpoint service {net.service_id}, subnets by AZ ID {net.subnet_ids}")

    env = function_env(a, url)
    props = {
        "ServiceToken": FN_ARN,
        "ServiceId": net.service_id,
        "ServiceKey": "orders",
        "TlsNames": ["orders.link.example.com"],
        "AllowedAccounts": [B],
    }
    with CaptureServer() as capture, LambdaHarness(bootstrap, "provider", env=env, timeout_s=60,
                                                   account=A, region=REGION) as fn:
        rid = str(uuid.uuid4())
        event = {
            "RequestType": "Create",
            "ServiceToken": FN_ARN,
            "ResponseURL": capture.response_url(f"/{rid}"),
            "StackId": f"arn:aws:cloudformation:{REGION}:{A}:stack/provider-demo/{uuid.uuid4()}",
            "RequestId": rid,
            "ResourceType": "Custom::ServicePublication",
            "LogicalResourceId": "OrdersPublication",
            "ResourceProperties": props,
        }
        say("CloudFormation Create → the real provider binary")
        fn.invoke(event)
        answer = capture.wait_for(f"/{rid}", count=1, timeout=30)[0]["body"]
        print(json.dumps(answer, indent=2))
        print(f"(cold start to first response: {fn.cold_start_s * 1000:.0f} ms)")
        if answer["Status"] != "SUCCESS":
            return 1

    say("the published descriptor (SSM, Advanced tier, canonical JSON)")
    name = answer["Data"]["ParameterName"]
    stored = a.client("ssm").get_parameter(Name=name)["Parameter"]["Value"]
    descriptor = json.loads(stored)
    print(json.dumps(descriptor, indent=2))

    say("shared with account B through AWS RAM; B reads it by ARN")
    arn = answer["Data"]["ParameterArn"]
    a.client("ram").create_resource_share(name="orders-descriptor", resourceArns=[arn], principals=[B])
    seen_by_b = json.loads(b.client("ssm").get_parameter(Name=arn)["Parameter"]["Value"])
    print(f"B reads {arn}: digest {seen_by_b['digest'][:16]}…, az_ids {seen_by_b['az_ids']}")

    say("same AZ IDs, different AZ names per account")
    names = {}
    for label, session in (("A", a), ("B", b)):
        zones = session.client("ec2").describe_availability_zones()["AvailabilityZones"]
        names[label] = {z["ZoneId"]: z["ZoneName"] for z in zones}
    print(f"{'AZ ID':<10} {'name in A':<12} {'name in B':<12}")
    for az_id in descriptor["az_ids"]:
        print(f"{az_id:<10} {names['A'][az_id]:<12} {names['B'][az_id]:<12}")
    differ = all(names["A"][z] != names["B"][z] for z in descriptor["az_ids"])
    print("→ a subnet chosen by AZ name in B would land in the wrong zone; the descriptor carries IDs."
          if differ else "→ (names happen to match for these IDs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
