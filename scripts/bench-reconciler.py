#!/usr/bin/env python3
"""Benchmark of the real `reconciler` binary over many links (part of `make bench`).

    scripts/bench-reconciler.py [--links 100] [--timeout-s 60]

On the emulator (AUTOWIRE_EMULATOR_URL, as tests/emulator/with_emulator.py sets it): account A
publishes a service with the provider binary and shares the descriptor with B; B's consumer
binary builds --links links to it. Then B's reconciler (AUTOWIRE_RECONCILER_BOOTSTRAP, a
release build) runs, its AWS calls counted by the fault proxy:

1. a scheduled pass with nothing to change;
2. the pass for A's descriptor change that adds a port (each link's group follows);
3. the pass for A's change that adds an AZ (each link's endpoint follows: ModifyVpcEndpoint, paced
   at EC2's bucket of 4 calls and 0.3 a second) with a --timeout-s Lambda timeout: the pass
   stops starting links before its deadline, and says how many it left for the next one.

For each: EC2 describe calls, GetParameters calls, mutating calls (by action), wall time. Then
the reconciler process's peak RSS (VmHWM). Everything stays on loopback.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "emulator"))
sys.path.insert(0, str(REPO / "tests" / "binary"))

from binary_support import CloudFormation  # noqa: E402
from capture import CaptureServer  # noqa: E402
from fault_proxy import FaultProxy  # noqa: E402
from lambda_harness import LambdaHarness  # noqa: E402
from testbed_fixtures import (  # noqa: E402
    CONSUMER,
    PROVIDER,
    REGION,
    assume_account,
    build_consumer_vpc,
    build_provider_network,
    function_env,
    subnet_for_az_id,
)

READ_ONLY = ("Describe", "Get", "List")


def kib(value: str) -> float:
    return float(value.split()[0])


def peak_rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        status = dict(line.split(":", 1) for line in f if ":" in line)
    return kib(status["VmHWM"]) / 1024


def change_event(name: str, operation: str = "Update") -> dict:
    with open(REPO / "events" / "reconciler-parameter-update.json") as f:
        event = json.load(f)
    event["detail"].update(name=name, operation=operation)
    event["resources"] = [f"arn:aws:ssm:{REGION}:{PROVIDER}:parameter{name}"]
    return event


def scheduled() -> dict:
    with open(REPO / "events" / "reconciler-scheduled.json") as f:
        return json.load(f)


def measure(label: str, fn, proxy, key: str, event: dict) -> dict:
    proxy.reset_calls()
    t0 = time.monotonic()
    inv = fn.invoke_detailed(event)
    wall = time.monotonic() - t0
    if not inv.ok:
        raise SystemExit(f"{label}: the reconciler failed: {inv.error}")
    calls = [c for c in proxy.calls() if c["account_access_key_id"] == key]
    describes = sum(1 for c in calls if c["service"] == "ec2" and c["action"].startswith("Describe"))
    reads = sum(1 for c in calls if c["action"] == "GetParameters")
    writes = collections.Counter(c["action"] for c in calls
                                 if not str(c["action"]).startswith(READ_ONLY))
    report = inv.result.get("consumer", {})
    row = {"pass": label, "links": report.get("links"), "converged": report.get("converged"),
           "deferred": report.get("deferred"), "ec2_describe": describes,
           "get_parameters": reads, "mutating": sum(writes.values()),
           "mutating_by_action": dict(writes), "wall_s": round(wall, 2)}
    print(json.dumps(row), flush=True)
    return row


def publish(cfn, fn, service, key: str, **more) -> dict:
    props = {"ServiceId": service.service_id, "ServiceKey": key, "TlsNames": [f"{key}.example.com"],
             **more}
    body = cfn.send(fn, cfn.event(fn, "Create", "Custom::ServicePublication", "Publication", props))
    assert body["Status"] == "SUCCESS", body
    return {"props": props, "pid": body["PhysicalResourceId"], "arn": body["Data"]["ParameterArn"]}


def republish(cfn, fn, pub: dict, **more) -> None:
    props = {**pub["props"], **more}
    body = cfn.send(fn, cfn.event(fn, "Update", "Custom::ServicePublication", "Publication", props,
                                  physical_id=pub["pid"], old=pub["props"]))
    assert body["Status"] == "SUCCESS", body
    pub["props"] = props


def build_links(cfn_b, consumer_fn, consumer, arn: str, n: int) -> None:
    vpc_id, subnets = build_consumer_vpc(consumer, ["use1-az1", "use1-az2", "use1-az4"])
    t0 = time.monotonic()
    for i in range(n):
        props = {"ServiceParameter": arn, "VpcId": vpc_id, "SubnetIds": list(subnets.values())}
        body = cfn_b.send(consumer_fn, cfn_b.event(consumer_fn, "Create", "Custom::ServiceEndpoint",
                                                   f"Link{i}", props))
        assert body["Status"] == "SUCCESS", body
    print(f"{n} links built by the consumer binary in {time.monotonic() - t0:.1f} s", flush=True)


def add_az(provider, service, az_id: str) -> None:
    ec2, elbv2 = provider.client("ec2"), provider.client("elbv2")
    cidr = ec2.describe_vpcs(VpcIds=[service.vpc_id])["Vpcs"][0]["CidrBlock"]
    subnet = subnet_for_az_id(ec2, service.vpc_id, az_id, cidr.replace(".0.0/16", ".200.0/24"))
    elbv2.set_subnets(LoadBalancerArn=service.nlb_arn, Subnets=[*service.subnet_ids.values(), subnet])


def binary(name: str) -> str:
    path = os.environ.get(f"AUTOWIRE_{name.upper()}_BOOTSTRAP")
    if not path or not Path(path).is_file():
        raise SystemExit(f"set AUTOWIRE_{name.upper()}_BOOTSTRAP to the {name} binary")
    return path


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--links", type=int, default=100)
    ap.add_argument("--timeout-s", type=float, default=60.0)
    args = ap.parse_args(argv)
    url = os.environ["AUTOWIRE_EMULATOR_URL"]
    a, b = assume_account(url, PROVIDER), assume_account(url, CONSUMER)
    service = build_provider_network(a, ["use1-az1", "use1-az4"], listeners=[("TLS", 443)],
                                     allowed_accounts=[CONSUMER])
    proxy = FaultProxy(url).start()
    key = b.get_credentials().get_frozen_credentials().access_key
    try:
        with CaptureServer() as capture:
            cfn_a = CloudFormation(capture, PROVIDER, "bench-provider")
            cfn_b = CloudFormation(capture, CONSUMER, "bench-consumer")
            common = dict(region=REGION, async_relay=True)
            with LambdaHarness(binary("provider"), "provider", env=function_env(a, url),
                               timeout_s=30, account=PROVIDER, **common) as provider_fn, \
                 LambdaHarness(binary("consumer"), "consumer", env=function_env(b, url),
                               timeout_s=30, account=CONSUMER, **common) as consumer_fn, \
                 LambdaHarness(binary("reconciler"), "reconciler",
                               env=function_env(b, proxy.url), timeout_s=args.timeout_s,
                               account=CONSUMER, region=REGION) as reconciler:
                pub = publish(cfn_a, provider_fn, service, "bench")
                a.client("ram").create_resource_share(name="bench", resourceArns=[pub["arn"]],
                                                      principals=[CONSUMER])
                build_links(cfn_b, consumer_fn, b, pub["arn"], args.links)
                name = pub["arn"].split(":parameter", 1)[1]
                print(f"reconciler: {binary('reconciler')}, Lambda timeout {args.timeout_s:g} s")
                measure("scheduled, nothing changed", reconciler, proxy, key, scheduled())
                measure("scheduled again", reconciler, proxy, key, scheduled())
                republish(cfn_a, provider_fn, pub, Ports=["443/TLS", "8443/TLS"])
                measure("descriptor change: port added", reconciler, proxy, key, change_event(name))
                add_az(a, service, "use1-az2")
                republish(cfn_a, provider_fn, pub)
                measure("descriptor change: AZ added (paced)", reconciler, proxy, key,
                        change_event(name))
                print(f"reconciler peak RSS (VmHWM of pid {reconciler.pid}): "
                      f"{peak_rss_mib(reconciler.pid):.1f} MiB", flush=True)
    finally:
        proxy.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
