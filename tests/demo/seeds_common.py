"""What both seeds of `make demo-seeds` share: the two accounts and the real functions (`Seeds`),
the descriptor as the consumer reads it, what a link built, a link that must be refused before
it creates anything, and the real probe against loopback stand-ins.

Nothing here connects anywhere but 127.0.0.1: every name a probe target uses is mapped to
127.0.0.1 (the event's `hosts`, or the probe's environment for the link's deploy gate), and the
probe is told not to use DNS at all.
"""

from __future__ import annotations

import json
import time
from contextlib import ExitStack
from dataclasses import dataclass, field

from demo import PROBE_STAGES, aws_code, endpoint_state, show_group, show_probe_report, \
    vpc_endpoints, vpc_groups, vpc_private_zones
from demo_output import expect, note, say
from probe_servers import TestPki, TlsServer
from seed_product import Product
from seed_stack import SeedStack

A, B = "111111111111", "222222222222"
LOOPBACK = "127.0.0.1"
LINK_TAG = "privatelink-autowire:link-id"


@dataclass
class Seeds:
    """The provider account A and the consumer account B, the functions custom resources and
    the link's gate may call ({ARN: LambdaHarness}), the ResponseURL stand-in, the nested
    product's model, and the ExitStack that stops the servers the seeds start."""

    a: object
    b: object
    capture: object
    functions: dict
    product: Product
    exits: ExitStack
    pki: TestPki
    stacks: list = field(default_factory=list)

    def stack(self, example: str, side: str, params: dict) -> SeedStack:
        session = self.a if side == "provider" else self.b
        made = SeedStack(example, side, session, params, self.functions, self.capture,
                         self.product)
        self.stacks.append(made)
        return made

    def function(self, name: str):
        [fn] = [f for f in self.functions.values() if f.function_name == name]
        return fn

    def aim_probe(self, names: list[str]) -> None:
        """The probe's environment maps `names` to 127.0.0.1 (for the link's gate, whose input
        has no `hosts`); DNS is off there already."""
        probe = self.function("probe")
        probe.user_env["AUTOWIRE_PROBE_HOSTS"] = ",".join(f"{n}={LOOPBACK}" for n in names)
        probe.restart()

    def server(self, body: bytes, issued=None) -> TlsServer:
        """A loopback HTTP server (HTTPS with `issued`) answering 200 with `body`."""
        return self.exits.enter_context(TlsServer(issued, mode="http", status=200, body=body))


class SeedRun:
    """One write-up's run: its provider and consumer stacks, the descriptor the consumer read."""

    def __init__(self, seeds: Seeds):
        self.seeds = seeds
        self.provider: SeedStack | None = None
        self.consumer: SeedStack | None = None
        self.descriptor: dict = {}


def read_descriptor(session, arn: str) -> dict:
    """The descriptor as the consumer account reads it, by ARN (shared through RAM)."""
    descriptor = json.loads(session.client("ssm").get_parameter(Name=arn)["Parameter"]["Value"])
    note(f"account {session.account_id} reads {arn}:")
    for key in ("service_name", "az_ids", "ports", "private_dns", "tls_names", "acceptance"):
        note(f"  {key:<13} {json.dumps(descriptor.get(key))}")
    return descriptor


def show_link(stack: SeedStack, logical_id: str, descriptor: dict) -> dict:
    """What the link built: the subnets it chose by AZ ID among its candidates, its endpoint,
    its alias CNAME in the VPC's private zone. Returns the link's attributes."""
    b, data = stack.session, stack.atts[logical_id]
    props = stack.props[logical_id]
    say(f"{stack.name}: what {logical_id} (Custom::ServiceEndpoint) built")
    subnets = b.client("ec2").describe_subnets(SubnetIds=props["SubnetIds"])["Subnets"]
    served = [s["SubnetId"] for s in subnets if s["AvailabilityZoneId"] in descriptor["az_ids"]]
    for s in subnets:
        verdict = "chosen" if s["SubnetId"] in data["SubnetIds"].split(",") else "left out"
        note(f"candidate {s['SubnetId']} {s['AvailabilityZone']} = {s['AvailabilityZoneId']}: "
             f"{verdict}")
    note(f"provider AZ IDs {descriptor['az_ids']}: chosen by AZ ID, never by name")
    expect(data["SubnetIds"].split(",") == served, f"the link chose {data['SubnetIds']}, "
                                                   f"not the candidates served {served}")
    expect(data["State"] == "available", f"the link's endpoint is {data['State']}")
    note(f"endpoint {data['EndpointId']}: {data['State']}, {data['DnsName']}")
    zones = vpc_private_zones(b, props["VpcId"])
    records = [r for z in zones for r in b.client("route53").list_resource_record_sets(
        HostedZoneId=z["HostedZoneId"])["ResourceRecordSets"] if r["Type"] == "CNAME"]
    alias = [r["ResourceRecords"][0]["Value"].rstrip(".") for r in records
             if r["Name"].rstrip(".") == props["AliasName"]]
    note(f"private zone {[z['Name'] for z in zones]} in the VPC: CNAME {props['AliasName']} → "
         f"{alias}")
    expect(alias == [data["DnsName"]], f"no CNAME {props['AliasName']} → {data['DnsName']}")
    stack.seen[logical_id] = [z["HostedZoneId"] for z in zones]
    return data


def link_rules(stack: SeedStack, logical_id: str) -> list[tuple]:
    """The ingress rules of the link's own security group."""
    return show_group(stack.session, stack.atts[logical_id]["SecurityGroupId"])


def vpc_contents(session, vpc_id: str) -> dict:
    return {"endpoints": sorted(e["VpcEndpointId"] for e in vpc_endpoints(session, vpc_id)),
            "groups": sorted(g["GroupId"] for g in vpc_groups(session, vpc_id)),
            "private zones": sorted(z["HostedZoneId"] for z in vpc_private_zones(session, vpc_id))}


def refused(stack: SeedStack, logical_id: str, props: dict, as_id: str,
            wants: list[str]) -> str:
    """A Create of the link with `props` (as resource `as_id`) must answer FAILED, its Reason
    holding each of `wants`, and create nothing in the VPC; CloudFormation's rollback Delete
    then succeeds. Returns the Reason."""
    b, vpc = stack.session, props["VpcId"]
    before = vpc_contents(b, vpc)
    answer = stack.custom("Create", logical_id, props, as_logical_id=as_id)
    reason = answer.get("Reason") or ""
    expect(answer["Status"] == "FAILED", f"{as_id} did not fail: {answer}")
    for want in wants:
        expect(want in reason, f"the Reason does not say {want!r}: {reason}")
    expect(len(reason) < 256, f"the Reason is {len(reason)} characters long")
    after = vpc_contents(b, vpc)
    note(f"in the VPC now: {', '.join(f'{len(v)} {k}' for k, v in after.items())}, "
         "as before the request: nothing was created")
    expect(after == before, f"the refused link left {after} (before: {before})")
    rolled = stack.custom("Delete", logical_id, props, physical_id=answer["PhysicalResourceId"],
                          as_logical_id=as_id)
    expect(rolled["Status"] == "SUCCESS", f"the rollback Delete: {rolled.get('Reason')}")
    return reason


def run_probe(seeds: Seeds, event: dict, label: str) -> dict:
    """The real probe (account B) on `event`; returns its report, shown as a table."""
    probe = seeds.function("probe")
    started = time.monotonic()
    inv = probe.invoke_detailed(event)
    expect(inv.ok and not inv.timed_out, f"the probe failed: {inv.error}")
    say(f"{label}: the probe's report ({(time.monotonic() - started) * 1000:.0f} ms)")
    show_probe_report(inv.payload)
    return inv.payload


def expect_all_ok(report: dict, servers: list[TlsServer]) -> None:
    expect(report["ok"] is True, f"the probe's summary is {report['summary']}")
    for t in report["targets"]:
        expect(t["ok"] and t["stage"] == PROBE_STAGES[-1] and t["addresses"] == [LOOPBACK],
               f"{t['name']}: {t['stage']} {t.get('error')} {t['addresses']}")
    asked = sum(len(s.requests) for s in servers)
    expect(asked == len(report["targets"]), f"the stand-ins got {asked} requests")



def leftovers(stack: SeedStack) -> list[str]:
    """What the stack (its resources, and what its custom resources owned: descriptors,
    certificates, endpoints, groups, private zones) still has after its delete."""
    s = stack.session
    left = [f"{stack.name} {logical_id}" for logical_id in stack.created]
    for logical_id, answer in stack.answers.items():
        data = answer.get("Data") or {}
        still = []
        if "ParameterName" in data:
            still.append(("descriptor", s.client("ssm").get_parameter,
                          {"Name": data["ParameterName"]}))
        if "CertificateArn" in data:
            still.append(("certificate", s.client("acm").describe_certificate,
                          {"CertificateArn": data["CertificateArn"]}))
        if "SecurityGroupId" in data:
            still.append(("security group", s.client("ec2").describe_security_groups,
                          {"GroupIds": [data["SecurityGroupId"]]}))
        still += [("private zone", s.client("route53").get_hosted_zone, {"Id": zone})
                  for zone in stack.seen.get(logical_id, [])]
        left += [f"{stack.name} {logical_id}: {what} {list(args.values())[0]}"
                 for what, call, args in still if aws_code(call, **args) is None]
        if "EndpointId" in data and endpoint_state(s, data["EndpointId"]) not in (
                "deleted", "InvalidVpcEndpointId.NotFound"):
            left.append(f"{stack.name} {logical_id}: endpoint {data['EndpointId']}")
    return left
