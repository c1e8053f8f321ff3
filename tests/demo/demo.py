"""`make demo`: privatelink-autowire end to end on the emulator, provider and consumer side.

Account A (provider) gets a VPC, an NLB with a TLS listener, an endpoint service that requires
acceptance and a public Route 53 zone for link.example.com. The real `provider` binary, under
cargo-lambda's runtime emulator, answers CloudFormation requests to a local capture server
standing in for the pre-signed S3 URL. In account B (and C) the real `consumer` binary does the
same for Custom::ServiceEndpoint. The functions' Lambda timeout is short on purpose, so the waits
(private DNS verification, certificate issuance, acceptance, endpoint deletion) visibly continue
in fresh asynchronous invocations of the function, which the harness's relay delivers.

1. Create Custom::ServicePublication with a private DNS name: TXT record, verification, the
   descriptor; shared with account B through AWS RAM and read from B by ARN; AZ names vs IDs.
2. Create Custom::ServiceCertificate: DNS validation CNAME, ISSUED, SNI certificate on the listener.
3. Account B creates Custom::ServiceEndpoint (a link) to the descriptor by ARN, with candidate
   subnets in three AZ IDs of which A serves two: the endpoint lands in those two, waits in
   pendingAcceptance until A accepts, then gets its security group and its alias CNAME in a
   private zone the link made. A second consumer, account C, whose subnets are all in AZ IDs A
   does not serve, gets a FAILED answer that lists them, and nothing is created. A Delete of the
   publication then fails, naming B and the link's endpoint, and the descriptor stays.
4. While the link is up, the real `probe` binary (in B) checks it end to end against a local
   TLS server that stands in for the service (127.0.0.1, a certificate from a demo CA for the
   service's TLS names, GET /health -> 200): the alias, the regional and each zonal DNS name,
   every name mapped to 127.0.0.1 in the probe's `hosts` with system DNS off, so nothing is
   looked up. A report table, one target's raw report, EMF metric lines from its stdout; then
   the same probe against a server whose certificate does not cover the alias:
   tls_name_mismatch.
   4b. A's service gains an AZ and a port and A republishes: B's reconciler follows with no stack
   update in B. 4c. C, not in AllowedAccounts, asks to connect and A's reconciler rejects it.
   4d. Consumer-requested certificates (demo_certificates.py): A publishes a second service with
   CertificateRequests for B's team-b.example.com. B's link asks for its own name
   orders.team-b.example.com (AliasCertificate: request); each message is shown as it travels
   (Requested to A, Validation to B, whose reconciler writes the record in B's own public zone,
   A's scheduled pass serving the issued certificate by SNI, Ready to B) up to the link's
   SUCCESS, with the certificate on A's listener, ISSUED. The probe's TLS check for that name
   passes against a loopback server holding a certificate for it. C, not listed, asks for
   orders.team-c.example.com and gets FAILED with A's Reason, A keeping nothing; the links and
   the publication go and nothing is left. The flow's time and each side's AWS calls close it.
5. A Delete with OnDeleteWithConnections=reject rejects the connection and removes everything;
   the certificate's Delete takes it off the listener and removes its CNAME.
6. B deletes its link: the endpoint, the link's security group and its private zone go.

Every step checks what it shows; the demo exits non-zero at the first surprise.
"""

from __future__ import annotations

import datetime
import json
import os
import sys
import tempfile
import time
import traceback
import uuid
from contextlib import ExitStack
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "emulator"))
sys.path.append(str(HERE.parent / "binary"))  # probe_servers: loopback TLS servers, a test PKI

from botocore.exceptions import ClientError  # noqa: E402

import demo_certificates  # noqa: E402
import demo_reconcile  # noqa: E402
from capture import CaptureServer  # noqa: E402
from demo_output import DemoFailure, expect, note, say  # noqa: E402
from lambda_harness import LambdaHarness  # noqa: E402
from probe_servers import TestPki, TlsServer  # noqa: E402
from testbed_fixtures import (  # noqa: E402
    REGION,
    assume_account,
    build_consumer_vpc,
    build_provider_network,
    build_public_zone,
    function_env,
)

A, B, C = "111111111111", "222222222222", "333333333333"
DOMAIN = "link.example.com"
DNS_NAME = f"orders.{DOMAIN}"
# What B's applications call: covered by the service's TLS name *.orders.link.example.com.
ALIAS = f"api.{DNS_NAME}"
LINK_TAG = "privatelink-autowire:link-id"
# Short on purpose: the provider polls verification and issuance every 10 s, which does not fit
# in one invocation, so it hands the wait over to a fresh asynchronous invocation of itself.
# The consumer likewise polls acceptance every 10 s and endpoint deletion every 3 s.
FN_TIMEOUT_S = 5
CONTINUATION_KEY = "AutowireContinuation"
# The probe: how long its stand-in server's certificate is valid; the run's time budget.
CERT_DAYS = 90
PROBE_TIMEOUT_MS = 3000
PROBE_STAGES = ["dns", "tcp", "tls", "http"]


def show_answer(answer: dict) -> None:
    note(f"Status:             {answer['Status']}")
    if answer.get("Reason"):
        note(f"Reason:             {answer['Reason']}")
    note(f"PhysicalResourceId: {answer.get('PhysicalResourceId')}")
    for k, v in sorted((answer.get("Data") or {}).items()):
        note(f"Data.{k + ':':<17} {v}")


def stack_id(account: str, name: str) -> str:
    return f"arn:aws:cloudformation:{REGION}:{account}:stack/{name}/{uuid.uuid4()}"


def aws_code(fn, *args, **kwargs) -> str | None:
    """The AWS error code `fn(...)` fails with, None when it succeeds."""
    try:
        fn(*args, **kwargs)
    except ClientError as e:
        return e.response["Error"]["Code"]
    return None


class CloudFormation:
    """Sends CloudFormation custom-resource requests of one stack to one function and collects the
    one answer each gets, following the function's continuations to the end."""

    def __init__(self, fn: LambdaHarness, capture: CaptureServer, stack: str):
        self.fn, self.capture, self.stack = fn, capture, stack

    def request(self, kind: str, resource_type: str, logical_id: str, props: dict,
                physical_id: str | None = None, while_waiting=None) -> dict:
        """`while_waiting(first_invocation)`, if given, runs once the CloudFormation event's own
        invocation has returned, while its continuations (if any) go on in the background."""
        rid = str(uuid.uuid4())
        token = self.fn.function_arn
        event = {
            "RequestType": kind,
            "ServiceToken": token,
            "ResponseURL": self.capture.response_url(f"/{rid}"),
            "StackId": self.stack,
            "RequestId": rid,
            "ResourceType": resource_type,
            "LogicalResourceId": logical_id,
            "ResourceProperties": {"ServiceToken": token, **props},
        }
        if physical_id is not None:
            event["PhysicalResourceId"] = physical_id
        if kind == "Update":  # the demo's Updates change the world, not the properties
            event["OldResourceProperties"] = event["ResourceProperties"]
        before = len(self.fn.invocations)
        t0 = time.monotonic()
        first = self.fn.invoke_detailed(event)
        if while_waiting is not None:
            while_waiting(first)
        self.fn.drain_async(timeout=60)
        answers = self.capture.wait_for(f"/{rid}", count=1, timeout=30)
        elapsed = time.monotonic() - t0
        time.sleep(0.3)  # a second answer would have arrived by now
        answers = self.capture.responses(f"/{rid}")
        expect(len(answers) == 1, f"{kind} {logical_id}: expected one answer, got {len(answers)}")
        runs = self.fn.invocations[before:]
        for i, inv in enumerate(runs, 1):
            expect(inv.ok and not inv.timed_out,
                   f"{kind} {logical_id}: invocation {i} failed: {inv.error}")
            kind_of = "continuation" if CONTINUATION_KEY in (inv.event or {}) else "CloudFormation"
            waited = [j["fields"]["waiting_for"] for j in (l.json for l in inv.logs)
                      if isinstance(j, dict) and "waiting_for" in j.get("fields", {})]
            outcome = inv.payload or {}
            if "continued" in outcome:
                result = f"handed over to invocation {i + 1}"
            else:
                result = f"answered {outcome.get('answered', {}).get('status', outcome)}"
            why = f" (waiting for {waited[-1]})" if waited and "continued" in outcome else ""
            note(f"invocation {i}: {kind_of} event, {inv.duration_s * 1000:.0f} ms"
                 f"{', cold start' if inv.cold else ''} → {result}{why}")
        note(f"{len(runs)} invocation(s), {elapsed:.1f} s to the answer; CloudFormation got:")
        answer = answers[0]["body"]
        show_answer(answer)
        return {"answer": answer, "invocations": runs}


def zone_records(a, zone_id: str) -> list[dict]:
    """The zone's records other than its own SOA and NS."""
    sets = a.client("route53").list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    return [r for r in sets if r["Type"] not in ("SOA", "NS")]


def show_zone(a, zone_id: str, label: str = DOMAIN) -> list[dict]:
    records = zone_records(a, zone_id)
    if not records:
        note(f"zone {label} holds no records besides SOA/NS")
    else:
        note(f"zone {label} holds, besides SOA/NS:")
    for r in records:
        values = ", ".join(v["Value"] for v in r.get("ResourceRecords", []))
        note(f"  {r['Name']:<52} {r['Type']:<5} {values}")
    return records


def service_config(a, service_id: str) -> dict:
    return a.client("ec2").describe_vpc_endpoint_service_configurations(
        ServiceIds=[service_id])["ServiceConfigurations"][0]


def listener_certificates(a, listener_arn: str) -> list[dict]:
    return a.client("elbv2").describe_listener_certificates(ListenerArn=listener_arn)["Certificates"]


def show_listener(a, listener_arn: str) -> list[dict]:
    certs = listener_certificates(a, listener_arn)
    note(f"TLS listener on 443 (…{listener_arn[-16:]}) serves {len(certs)} certificate(s):")
    acm = a.client("acm")
    for c in certs:
        detail = acm.describe_certificate(CertificateArn=c["CertificateArn"])["Certificate"]
        names = ", ".join(detail.get("SubjectAlternativeNames") or [detail["DomainName"]])
        role = "default" if c.get("IsDefault") else "SNI"
        note(f"  {role:<8} {detail.get('Type', '?'):<14} {names}  (…{c['CertificateArn'][-12:]})")
    return certs


# ---------------------------------------------------------------- the consumer side


def az_names(session) -> dict[str, str]:
    """AZ ID -> the account's name for it."""
    zones = session.client("ec2").describe_availability_zones()["AvailabilityZones"]
    return {z["ZoneId"]: z["ZoneName"] for z in zones}


def show_candidates(label: str, subnets: dict[str, str], names: dict[str, str],
                    served: list[str]) -> None:
    note(f"candidate subnets ({label}):")
    for az_id, subnet in subnets.items():
        verdict = "served by A" if az_id in served else "A does not serve it"
        note(f"  {subnet}  {az_id}  ({label} calls it {names[az_id]})  {verdict}")
    note(f"provider AZ IDs (descriptor az_ids): {', '.join(served)}")


def vpc_endpoints(session, vpc_id: str) -> list[dict]:
    """The VPC's endpoints that are not deleted."""
    found = session.client("ec2").describe_vpc_endpoints(
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["VpcEndpoints"]
    return [e for e in found if e["State"] != "deleted"]


def vpc_groups(session, vpc_id: str) -> list[dict]:
    return session.client("ec2").describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["SecurityGroups"]


def vpc_private_zones(session, vpc_id: str) -> list[dict]:
    return session.client("route53").list_hosted_zones_by_vpc(
        VPCId=vpc_id, VPCRegion=REGION)["HostedZoneSummaries"]


def endpoint_state(session, endpoint_id: str) -> str:
    try:
        found = session.client("ec2").describe_vpc_endpoints(
            VpcEndpointIds=[endpoint_id])["VpcEndpoints"]
    except ClientError as e:
        return e.response["Error"]["Code"]
    return found[0]["State"] if found else "(not listed)"


def handovers(fn: LambdaHarness) -> list:
    """The function's lambda:Invoke (Event) calls to itself: one per hand-over."""
    return [c for c in fn.relay_calls() if c.invocation_type == "Event"]


def show_group(session, group_id: str) -> list[tuple[str, int, int, str]]:
    """Prints the group's ingress rules; returns them as (protocol, from, to, cidr)."""
    group = session.client("ec2").describe_security_groups(
        GroupIds=[group_id])["SecurityGroups"][0]
    note(f"security group {group_id} \"{group['GroupName']}\" ({group['Description']}):")
    rules = []
    for perm in group["IpPermissions"]:
        for r in perm.get("IpRanges", []):
            rules.append((perm["IpProtocol"], perm.get("FromPort"), perm.get("ToPort"),
                          r["CidrIp"]))
        for g in perm.get("UserIdGroupPairs", []):
            rules.append((perm["IpProtocol"], perm.get("FromPort"), perm.get("ToPort"),
                          g["GroupId"]))
    for proto, lo, hi, peer in rules:
        ports = f"{lo}" if lo == hi else f"{lo}-{hi}"
        note(f"  ingress {proto} {ports} from {peer}")
    if not rules:
        note("  no ingress rules")
    return rules


# ---------------------------------------------------------------- the probe


def probe_binary() -> str:
    """The probe's bootstrap: AUTOWIRE_PROBE_BOOTSTRAP, else the workspace's debug build."""
    path = os.environ.get("AUTOWIRE_PROBE_BOOTSTRAP")
    if path:
        return path
    target = os.environ.get("CARGO_TARGET_DIR") or str(
        Path.home() / ".cache" / "privatelink-autowire" / "target")
    return str(Path(target) / "debug" / "probe")


def zonal_az_ids(zonal: list[str], names: dict[str, str]) -> dict[str, str]:
    """Zonal DNS name -> AZ ID. A zonal name carries the consumer's AZ *name* at the end of its
    first label (vpce-…-us-east-1b.vpce-svc-…); `names` (AZ ID -> name in B) turns it into the ID."""
    by_name = {name: az_id for az_id, name in names.items()}
    out = {}
    for host in zonal:
        label = host.split(".", 1)[0]
        found = [az_id for name, az_id in by_name.items() if label.endswith(f"-{name}")]
        expect(len(found) == 1, f"zonal DNS name {host} names no single AZ of B ({found})")
        out[host] = found[0]
    return out


def link_targets(data: dict, names: dict[str, str], service_key: str, port: int,
                 ca_pem: str) -> list[dict]:
    """The probe's targets for a link's answer: its alias, its regional DNS name and each zonal
    one, all checked with the alias as TLS server name, then GET /health."""
    alias = data["AliasName"]
    zonal = [n for n in data["ZonalDnsNames"].split(",") if n]
    az_of = zonal_az_ids(zonal, names)
    expect(sorted(az_of.values()) == sorted(data["AzIds"].split(",")),
           f"the zonal names are in {sorted(az_of.values())}, the link in {data['AzIds']}")
    named = [("alias", alias, None), ("regional", data["DnsName"], None)]
    named += [(f"zonal {az_of[h]}", h, az_of[h]) for h in zonal]
    targets = []
    for label, host, az_id in named:
        t = {"name": label, "host": host, "port": port, "service_key": service_key,
             "tls": {"server_name": alias, "expect_names": [alias], "ca_bundle_pem": ca_pem},
             "http": {"path": "/health", "expect_status": 200}}
        if az_id:
            t["az_id"] = az_id
        targets.append(t)
    return targets


def probe_event(targets: list[dict]) -> dict:
    """Every name the targets use maps to 127.0.0.1 and system DNS is off: the probe sends no
    DNS query at all (a name missing from `hosts` would fail as dns_nxdomain, unresolved)."""
    hosts = {t["host"]: "127.0.0.1" for t in targets}
    return {"targets": targets, "timeout_ms": PROBE_TIMEOUT_MS, "target_timeout_ms": 2000,
            "concurrency": len(targets), "hosts": hosts, "system_dns": False}


def emf_docs(inv) -> list[dict]:
    """The CloudWatch EMF documents the probe printed on stdout during `inv`."""
    return [l.json for l in inv.logs
            if l.stream == "stdout" and isinstance(l.json, dict) and "_aws" in l.json]


def emf_raw(inv) -> list[str]:
    return [l.line.strip() for l in inv.logs
            if l.stream == "stdout" and isinstance(l.json, dict) and "_aws" in l.json]


def check_emf(inv, report: dict) -> list[dict]:
    """One EMF line per stage each target ran, in namespace PrivateLinkAutowire, with the
    target's ServiceKey and AzId ("regional" without one); Success 0 only at a failed stage."""
    docs = emf_docs(inv)
    want = []
    for t in report["targets"]:
        ran = PROBE_STAGES[: PROBE_STAGES.index(t["stage"]) + 1]
        want += [(t["service_key"], t.get("az_id") or "regional", s,
                  0 if (s == t["stage"] and not t["ok"]) else 1) for s in ran]
    got = [(d.get("ServiceKey"), d.get("AzId"), d.get("Stage"), d.get("Success")) for d in docs]
    expect(sorted(got) == sorted(want), f"EMF lines {got}, expected {want}")
    for d in docs:
        cwm = d["_aws"]["CloudWatchMetrics"][0]
        expect(cwm["Namespace"] == "PrivateLinkAutowire", f"EMF namespace {cwm['Namespace']}")
        expect(["ServiceKey", "AzId", "Stage"] in cwm["Dimensions"],
               f"EMF dimensions {cwm['Dimensions']}")
        expect({m["Name"] for m in cwm["Metrics"]} == {"Latency", "Success"},
               f"EMF metrics {cwm['Metrics']}")
        expect(d["Host"] in {t["host"] for t in report["targets"]}, f"EMF host {d['Host']}")
        failed_here = d["Success"] == 0
        expect(bool(d.get("ErrorClass")) == failed_here, f"EMF ErrorClass in {d}")
    return docs


def wait_for(cond, timeout: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout
    while not cond() and time.monotonic() < deadline:
        time.sleep(0.02)
    return cond()


def show_probe_report(report: dict) -> None:
    note(f"{'target':<16} {'AZ ID':<9} {'stage':<6} {'ok':<3} "
         f"{'dns':>6} {'tcp':>6} {'tls':>6} {'http':>6} ms  {'certificate names':<52} "
         f"{'days':>4}  HTTP")
    for t in report["targets"]:
        lat = t.get("latency_ms") or {}
        cells = " ".join(f"{lat[s]:>6.2f}" if s in lat else f"{'-':>6}" for s in PROBE_STAGES)
        tls = t.get("tls") or {}
        names = ", ".join(tls.get("names", [])) or "-"
        days = tls.get("days_to_expiry", "-")
        status = (t.get("http") or {}).get("status", "-")
        note(f"{t['name']:<16} {t.get('az_id') or '-':<9} {t['stage']:<6} "
             f"{'yes' if t['ok'] else 'NO':<3} {cells} ms  {names:<52} {days:>4}  {status}")
    s = report["summary"]
    note(f"{s['ok']} of {s['total']} ok, {s['failed']} failed, run took "
         f"{report['elapsed_ms']:.1f} ms")


def probe_link(stack: ExitStack, b, url: str, bootstrap: str, data: dict,
               names_b: dict[str, str], descriptor: dict) -> dict:
    """Step 4: the real probe, in B, against a local TLS server standing in for A's service."""
    alias, key = data["AliasName"], descriptor["key"]
    tls_names = sorted(descriptor["tls_names"])
    say("4. B probes its link with the real `probe` binary, against a local TLS server that "
        "stands in for the service")
    pki = TestPki(Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="demo-pki-"))),
                  name="privatelink-autowire demo CA")
    good = pki.leaf(tls_names, valid_days=CERT_DAYS, label="orders")
    server = stack.enter_context(TlsServer(good, mode="http", status=200))
    note(f"demo CA \"privatelink-autowire demo CA\" issues {', '.join(good.names)} "
         f"(valid until {good.not_after:%Y-%m-%d}, {CERT_DAYS} days)")
    note(f"the stand-in: TLS on 127.0.0.1:{server.port}, GET /health -> 200 "
         f"(on AWS: the NLB's TLS listener on 443 behind the endpoint)")
    targets = link_targets(data, names_b, key, server.port, pki.ca_pem)
    event = probe_event(targets)
    note(f"targets from the link's answer (port {server.port}, TLS server name {alias} with "
         f"expect_names [{alias}], CA bundle = the demo CA, http GET /health expect 200; "
         f"service_key {key}):")
    for t in targets:
        note(f"  {t['name']:<16} {t['host']}")
    note(f"hosts: all {len(event['hosts'])} names -> 127.0.0.1, system_dns false "
         "(the probe asks no DNS server)")

    probe = stack.enter_context(LambdaHarness(bootstrap, "probe", env=function_env(b, url),
                                              timeout_s=10, account=B, region=REGION))
    inv = probe.invoke_detailed(event)
    expect(inv.ok and not inv.timed_out, f"the probe failed: {inv.error}")
    report = inv.payload
    note(f"probe invocation: {inv.duration_s * 1000:.0f} ms{', cold start' if inv.cold else ''}")
    say("the probe's report")
    show_probe_report(report)
    link_report = report
    expect(report["ok"] is True and report["summary"] == {"total": len(targets),
                                                         "ok": len(targets), "failed": 0},
           f"the probe's summary is {report['summary']}")
    expect([t["name"] for t in report["targets"]] == [t["name"] for t in targets],
           "the report is not in the targets' order")
    for asked, t in zip(targets, report["targets"]):
        expect((t["host"], t["port"], t.get("az_id"), t.get("service_key"))
               == (asked["host"], asked["port"], asked.get("az_id"), key),
               f"{asked['name']}: the report does not echo its target: {t}")
        expect(t["ok"] and t["stage"] == "http" and t.get("error") is None,
               f"{asked['name']}: {t['stage']} {t.get('error')}")
        expect(t["addresses"] == ["127.0.0.1"], f"{asked['name']}: addresses {t['addresses']}")
        expect(set(t["latency_ms"]) == set(PROBE_STAGES), f"{asked['name']}: {t['latency_ms']}")
        expect(sorted(t["tls"]["names"]) == tls_names, f"{asked['name']}: names {t['tls']}")
        expect(t["tls"]["days_to_expiry"] in (CERT_DAYS - 1, CERT_DAYS),
               f"{asked['name']}: {t['tls']['days_to_expiry']} days to expiry")
        not_after = datetime.datetime.fromisoformat(t["tls"]["not_after"].replace("Z", "+00:00"))
        expect(not_after == good.not_after, f"{asked['name']}: not_after {t['tls']['not_after']}")
        expect(t["http"]["status"] == 200 and t["http"]["body_bytes"] > 0,
               f"{asked['name']}: http {t['http']}")
    expect(wait_for(lambda: len(server.handshakes) == len(targets)),
           f"the server saw {len(server.handshakes)} handshakes")
    expect(server.handshakes == ["ok"] * len(targets), f"handshakes {server.handshakes}")
    expect(server.sni == [alias] * len(targets), f"the probe sent SNI {server.sni}, not {alias}")
    paths = [(r["method"], r["path"]) for r in server.requests]
    expect(paths == [("GET", "/health")] * len(targets), f"the server got {paths}")
    note(f"the server saw {len(server.handshakes)} TLS handshakes, all with SNI {alias}, and "
         f"{len(paths)} GET /health")

    say(f"one target's report as the probe returns it ({targets[0]['name']})")
    print(json.dumps(report["targets"][0], indent=2), flush=True)

    docs = check_emf(inv, report)
    raw = emf_raw(inv)
    say(f"CloudWatch EMF lines on the probe's stdout ({len(docs)}: one per target and stage; "
        "2 shown)")
    shown = [next(r for r, d in zip(raw, docs) if d["AzId"] == "regional" and d["Stage"] == "tls"),
             next(r for r, d in zip(raw, docs) if d["AzId"] != "regional" and d["Stage"] == "http")]
    for line in shown:
        print(line, flush=True)

    # ---------------------------------------------------------- a certificate without the alias
    narrow = pki.leaf([descriptor["private_dns"]["name"]], valid_days=CERT_DAYS,
                      label="orders-only")
    bad = stack.enter_context(TlsServer(narrow, mode="http", status=200))
    say(f"the same probe against a second server whose certificate names only "
        f"{', '.join(narrow.names)} (no *.{narrow.names[0]}): it does not cover {alias}")
    note(f"second stand-in: TLS on 127.0.0.1:{bad.port}, same CA, same GET /health -> 200")
    bad_targets = [dict(t, port=bad.port) for t in targets]
    inv = probe.invoke_detailed(probe_event(bad_targets))
    expect(inv.ok and not inv.timed_out, f"the probe failed: {inv.error}")
    report = inv.payload
    show_probe_report(report)
    expect(report["ok"] is False and report["summary"] == {"total": len(targets), "ok": 0,
                                                          "failed": len(targets)},
           f"the probe's summary is {report['summary']}")
    for t in report["targets"]:
        err = t.get("error") or {}
        note(f"{t['name']:<16} {t['stage']}: {err.get('class')}: {err.get('message')}")
        expect(not t["ok"] and t["stage"] == "tls" and err.get("class") == "tls_name_mismatch",
               f"{t['name']}: {t['stage']} {err}")
        expect(alias in err.get("message", ""), f"{t['name']}: the message does not name {alias}")
        expect(set(t["latency_ms"]) == {"dns", "tcp", "tls"} and t.get("http") is None,
               f"{t['name']}: {t['latency_ms']}, http {t.get('http')}")
    expect(wait_for(lambda: len(bad.handshakes) == len(targets)),
           f"the second server saw {len(bad.handshakes)} handshakes")
    expect("ok" not in bad.handshakes and not bad.requests,
           f"a handshake completed or a request came through: {bad.handshakes}, {bad.requests}")
    note(f"the second server: {len(bad.handshakes)} handshakes, all refused by the probe; "
         "no HTTP request sent")
    docs = check_emf(inv, report)
    raw = emf_raw(inv)
    say("its EMF line for the failed stage")
    print(next(r for r, d in zip(raw, docs) if d["Success"] == 0), flush=True)
    probe.stop()
    return link_report


def main() -> int:
    url = os.environ["AUTOWIRE_EMULATOR_URL"]
    bootstrap = os.environ["AUTOWIRE_PROVIDER_BOOTSTRAP"]
    consumer_bootstrap = os.environ["AUTOWIRE_CONSUMER_BOOTSTRAP"]
    probe_bootstrap = probe_binary()
    expect(Path(probe_bootstrap).is_file(),
           f"the probe binary is not at {probe_bootstrap}: build it (`make demo` does) or set "
           "AUTOWIRE_PROBE_BOOTSTRAP")
    a, b = assume_account(url, A), assume_account(url, B)
    ec2_a, ec2_b, ssm_a = a.client("ec2"), b.client("ec2"), a.client("ssm")

    say(f"account A ({A}): VPC, NLB with a TLS listener on 443, endpoint service, public zone")
    net = build_provider_network(a, ["use1-az1", "use1-az4"], listeners=[("TLS", 443)],
                                 acceptance_required=True, allowed_accounts=[B])
    listener = net.listener_arns[0]
    zone_id = build_public_zone(a, DOMAIN)
    zone = zone_id.split("/")[-1]
    note(f"endpoint service {net.service_id} (acceptance required, B allowed)")
    note(f"subnets by AZ ID {net.subnet_ids}")
    note(f"public hosted zone {DOMAIN}: {zone}")
    show_listener(a, listener)

    rec = demo_reconcile.Reconcilers(url, a, b)
    note(f"A's SNS topic for connection notifications {rec.topic}, subscribed by A's reconciler")
    note(f"B's event bus {rec.bus_arn} (its policy admits A); A forwards descriptor changes to it")
    env = dict(function_env(a, url), CONNECTION_NOTIFICATION_TOPIC_ARN=rec.topic)
    publication = {
        "ServiceId": net.service_id,
        "ServiceKey": "orders",
        "TlsNames": [DNS_NAME, f"*.{DNS_NAME}"],
        "AllowedAccounts": [B],
        "RejectUnlisted": "true",
        "PrivateDnsName": DNS_NAME,
        "PublicHostedZoneId": zone,
    }
    with ExitStack() as stack:
        capture = stack.enter_context(CaptureServer())
        fn = stack.enter_context(LambdaHarness(bootstrap, "provider", env=env,
                                               timeout_s=FN_TIMEOUT_S, account=A,
                                               region=REGION, async_relay=True))
        rec.start(stack, os.environ["AUTOWIRE_RECONCILER_BOOTSTRAP"])
        fn_b = stack.enter_context(LambdaHarness(consumer_bootstrap, "consumer",
                                                 env=function_env(b, url),
                                                 timeout_s=FN_TIMEOUT_S, account=B,
                                                 region=REGION, async_relay=True))
        cfn = CloudFormation(fn, capture, stack_id(A, "provider-demo"))
        cfn_b = CloudFormation(fn_b, capture, stack_id(B, "consumer-demo"))

        # ------------------------------------------------------------ 1. publication + private DNS
        say(f"1. CloudFormation Create Custom::ServicePublication, PrivateDnsName {DNS_NAME} "
            f"(function timeout {FN_TIMEOUT_S} s)")
        created = cfn.request("Create", "Custom::ServicePublication", "OrdersPublication",
                              publication)
        answer = created["answer"]
        note(f"(cold start to first response: {fn.cold_start_s * 1000:.0f} ms)")
        expect(answer["Status"] == "SUCCESS", f"publication Create: {answer.get('Reason')}")
        expect(answer["Data"]["PrivateDnsState"] == "verified",
               f"PrivateDnsState is {answer['Data']['PrivateDnsState']!r}, not verified")
        expect(len(created["invocations"]) >= 2,
               "the verification wait should have continued in a second invocation")
        continued = [c for c in fn.relay_calls() if c.invocation_type == "Event"]
        note(f"the relay got {len(continued)} lambda:Invoke (Event) call(s) from the function, "
             f"for {continued[0].function_name if continued else '-'}")
        expect(len(continued) == len(created["invocations"]) - 1,
               "each continuation should come from exactly one lambda:Invoke (Event)")

        say("private DNS: the service's name, the TXT record the function wrote, the verification")
        config = service_config(a, net.service_id)
        challenge = config["PrivateDnsNameConfiguration"]
        txt_name = f"{challenge['Name']}.{DNS_NAME}."
        note(f"service PrivateDnsName {config.get('PrivateDnsName')}, verification "
             f"{challenge['Type']} {challenge['Name']} = {challenge['Value']}")
        note(f"PrivateDnsNameConfiguration.State: {challenge['State']}")
        records = show_zone(a, zone_id)
        txt = [r for r in records if r["Type"] == "TXT" and r["Name"] == txt_name]
        expect(config.get("PrivateDnsName") == DNS_NAME, f"service private DNS name is "
               f"{config.get('PrivateDnsName')!r}")
        expect(challenge["State"] == "verified", f"verification state is {challenge['State']}")
        expect(len(txt) == 1 and txt[0]["ResourceRecords"][0]["Value"] == f'"{challenge["Value"]}"',
               f"no TXT record {txt_name} with value {challenge['Value']} in the zone")

        say("the published descriptor (SSM, Advanced tier, canonical JSON)")
        name = answer["Data"]["ParameterName"]
        arn = answer["Data"]["ParameterArn"]
        stored = ssm_a.get_parameter(Name=name)["Parameter"]
        descriptor = json.loads(stored["Value"])
        print(json.dumps(descriptor, indent=2))
        note(f"private_dns: {json.dumps(descriptor['private_dns'])}")
        expect(descriptor["private_dns"] == {"name": DNS_NAME, "state": "verified"},
               f"descriptor private_dns is {descriptor['private_dns']}")
        policy = json.loads(ssm_a.get_parameter(Name=f"{name}/policy")["Parameter"]["Value"])
        note(f"policy parameter {name}/policy (never shared): allowed {policy['allowed_accounts']}, "
             f"owns TXT {policy.get('private_dns_record', {}).get('name')}")

        say("shared with account B through AWS RAM; B reads it by ARN")
        share = a.client("ram").create_resource_share(
            name="orders-descriptor", resourceArns=[arn], principals=[B])["resourceShare"]
        seen_by_b = json.loads(b.client("ssm").get_parameter(Name=arn)["Parameter"]["Value"])
        note(f"B reads {arn}:")
        note(f"digest {seen_by_b['digest'][:16]}…, az_ids {seen_by_b['az_ids']}, "
             f"private_dns {seen_by_b['private_dns']}")
        expect(seen_by_b == descriptor, "B reads a different descriptor")

        say("same AZ IDs, different AZ names per account")
        names = {}
        for label, session in (("A", a), ("B", b)):
            zones = session.client("ec2").describe_availability_zones()["AvailabilityZones"]
            names[label] = {z["ZoneId"]: z["ZoneName"] for z in zones}
        note(f"{'AZ ID':<10} {'name in A':<12} {'name in B':<12}")
        for az_id in descriptor["az_ids"]:
            note(f"{az_id:<10} {names['A'][az_id]:<12} {names['B'][az_id]:<12}")
        differ = all(names["A"][z] != names["B"][z] for z in descriptor["az_ids"])
        note("→ a subnet chosen by AZ name in B would land in the wrong zone; the descriptor "
             "carries IDs." if differ else "→ (names happen to match for these IDs)")

        # ------------------------------------------------------------ 2. certificate
        say(f"2. CloudFormation Create Custom::ServiceCertificate for {DNS_NAME} + *.{DNS_NAME}")
        certificate = {
            "DomainName": DNS_NAME,
            "SubjectAlternativeNames": [f"*.{DNS_NAME}"],
            "HostedZoneId": zone,
            "ListenerArns": [listener],
        }
        cert_run = cfn.request("Create", "Custom::ServiceCertificate", "OrdersCertificate",
                               certificate)
        cert_answer = cert_run["answer"]
        expect(cert_answer["Status"] == "SUCCESS", f"certificate Create: {cert_answer.get('Reason')}")
        cert_arn = cert_answer["Data"]["CertificateArn"]
        detail = a.client("acm").describe_certificate(CertificateArn=cert_arn)["Certificate"]
        note(f"ACM {cert_arn}")
        note(f"status {detail['Status']}, names {detail['SubjectAlternativeNames']}")
        cnames = {(o["ResourceRecord"]["Name"], o["ResourceRecord"]["Value"])
                  for o in detail["DomainValidationOptions"]}
        for o in detail["DomainValidationOptions"]:
            note(f"validation of {o['DomainName']}: {o['ValidationStatus']}, CNAME "
                 f"{o['ResourceRecord']['Name']}")
        if len(cnames) < len(detail["DomainValidationOptions"]):
            note("(ACM validates *.name with the record of name: one CNAME serves both)")
        records = show_zone(a, zone_id)
        in_zone = {(r["Name"], r["ResourceRecords"][0]["Value"]) for r in records
                   if r["Type"] == "CNAME"}
        expect(detail["Status"] == "ISSUED", f"certificate is {detail['Status']}, not ISSUED")
        expect(cnames <= in_zone, f"validation CNAMEs {cnames} are not all in the zone")
        certs = show_listener(a, listener)
        expect(any(c["CertificateArn"] == cert_arn and not c.get("IsDefault") for c in certs),
               "the new certificate is not an SNI certificate of the listener")
        expect(sum(1 for c in certs if c.get("IsDefault")) == 1
               and all(c["CertificateArn"] != cert_arn for c in certs if c.get("IsDefault")),
               "the listener's default certificate changed")

        # ------------------------------------------------------------ 3. the consumer link
        served = descriptor["az_ids"]
        unserved = sorted(z for z in names["B"] if z not in served)
        expect(len(unserved) >= 2, f"the region has no two AZ IDs besides {served}")
        say(f"3. account B ({B}) links to A's service: CloudFormation Create Custom::ServiceEndpoint "
            f"(the consumer function in B, timeout {FN_TIMEOUT_S} s)")
        # The one A does not serve goes first: the user's order is a preference, not a rule.
        vpc_b, subnets_b = build_consumer_vpc(b, [unserved[0], *served])
        cidr_b = ec2_b.describe_vpcs(VpcIds=[vpc_b])["Vpcs"][0]["CidrBlock"]
        note(f"B's VPC {vpc_b} ({cidr_b}), DNS support and hostnames on")
        show_candidates("B", subnets_b, names["B"], served)
        covering = [n for n in descriptor["tls_names"]
                    if n == ALIAS or (n.startswith("*.") and ALIAS.split(".", 1)[1] == n[2:])]
        note(f"AliasName {ALIAS}: covered by the service's TLS name(s) {covering}")
        expect(covering, f"no TLS name of the descriptor covers {ALIAS}")
        link = {
            "ServiceParameter": arn,
            "VpcId": vpc_b,
            "SubnetIds": list(subnets_b.values()),
            "AliasName": ALIAS,
        }
        note(f"properties: {json.dumps(link)}")
        want_subnets = [subnets_b[z] for z in served]
        waited: dict = {}

        def link_waits(first) -> None:
            """While the link waits for acceptance: look at it from B; A's reconciler accepts it."""
            expect(first.ok and "continued" in (first.payload or {}),
                   f"the link's first invocation did not hand over: {first.result}")
            made = vpc_endpoints(b, vpc_b)
            expect(len(made) == 1, f"B's VPC has {len(made)} endpoints, not 1")
            ep = made[0]
            waited["endpoint"] = ep["VpcEndpointId"]
            note(f"after invocation 1, B's VPC has endpoint {ep['VpcEndpointId']} "
                 f"({ep['State']}) in {', '.join(ep['SubnetIds'])}")
            expect(ep["State"] == "pendingAcceptance", f"the endpoint is {ep['State']}")
            expect(sorted(ep["SubnetIds"]) == sorted(want_subnets),
                   f"the endpoint is in {ep['SubnetIds']}, not in {want_subnets}")
            waited["connect_to_accepted_s"] = demo_reconcile.accept_by_policy(rec)
            conn = ec2_a.describe_vpc_endpoint_connections(Filters=[
                {"Name": "vpc-endpoint-id", "Values": [ep["VpcEndpointId"]]}
            ])["VpcEndpointConnections"]
            expect([c["VpcEndpointState"] for c in conn] == ["available"],
                   f"B's connection is {[c['VpcEndpointState'] for c in conn]} after the pass")
            note("the link's invocations, from CloudFormation's event to its answer:")

        linked = cfn_b.request("Create", "Custom::ServiceEndpoint", "OrdersLink", link,
                               while_waiting=link_waits)
        link_answer = linked["answer"]
        expect(link_answer["Status"] == "SUCCESS", f"link Create: {link_answer.get('Reason')}")
        waits = [j["fields"]["waiting_for"] for j in (l.json for l in linked["invocations"][0].logs)
                 if isinstance(j, dict) and "waiting_for" in j.get("fields", {})]
        expect(any("to accept endpoint" in w for w in waits),
               f"the link's first invocation did not wait for acceptance: {waits}")
        continued = handovers(fn_b)
        note(f"the relay got {len(continued)} lambda:Invoke (Event) call(s) from the function, "
             f"for {continued[0].function_name if continued else '-'}")
        expect(len(continued) == len(linked["invocations"]) - 1,
               "each continuation should come from exactly one lambda:Invoke (Event)")

        data = link_answer["Data"]
        link_id = link_answer["PhysicalResourceId"]
        endpoint_id = data["EndpointId"]
        group_id = data["SecurityGroupId"]
        say("what the link built in B")
        chosen = data["SubnetIds"].split(",")
        for subnet, az_id in zip(chosen, data["AzIds"].split(",")):
            note(f"chosen: {subnet} in {az_id} (B: {names['B'][az_id]})")
        note(f"left out: {subnets_b[unserved[0]]} in {unserved[0]} (B: {names['B'][unserved[0]]}), "
             "A has no zone there")
        expect(chosen == want_subnets, f"the link chose {chosen}, not {want_subnets}")
        expect(data["AzIds"].split(",") == served, f"AzIds is {data['AzIds']}, not {served}")
        expect(endpoint_id == waited.get("endpoint"),
               f"EndpointId {endpoint_id} is not the endpoint that waited ({waited.get('endpoint')})")
        expect(data["State"] == "available", f"State is {data['State']}")
        expect(data["AliasName"] == ALIAS, f"AliasName is {data['AliasName']!r}")
        expect(link_id.startswith("link-"), f"PhysicalResourceId {link_id} is not a link ID")
        seen = ec2_b.describe_vpc_endpoints(VpcEndpointIds=[endpoint_id])["VpcEndpoints"][0]
        note(f"endpoint {endpoint_id}: {seen['State']}, service {seen['ServiceName']}, "
             f"private DNS {'on' if seen.get('PrivateDnsEnabled') else 'off'}, "
             f"groups {[g['GroupId'] for g in seen.get('Groups', [])]}")
        tags = {t["Key"]: t["Value"] for t in seen.get("Tags", [])}
        for k in sorted(tags):
            if k.startswith("privatelink-autowire:"):
                note(f"  tag {k} = {tags[k]}")
        for entry in seen["DnsEntries"]:
            note(f"  B resolves {entry['DnsName']}")
        expect(seen["State"] == "available", f"B's endpoint is {seen['State']} after acceptance")
        expect(sorted(seen["SubnetIds"]) == sorted(want_subnets),
               f"the endpoint is in {seen['SubnetIds']}")
        expect(any(e["DnsName"] == DNS_NAME for e in seen["DnsEntries"]),
               f"B's endpoint has no private DNS entry {DNS_NAME}")
        expect(seen["DnsEntries"][0]["DnsName"] == data["DnsName"],
               f"DnsName {data['DnsName']} is not the endpoint's regional name")
        expect(tags.get(LINK_TAG) == link_id, f"the endpoint's {LINK_TAG} tag is not {link_id}")
        expect([g["GroupId"] for g in seen.get("Groups", [])] == [group_id],
               f"the endpoint does not carry exactly the link's group {group_id}")
        rules = show_group(b, group_id)
        expect(rules == [("tcp", 443, 443, cidr_b)],
               f"the link's group admits {rules}, not tcp 443 from {cidr_b}")
        private = vpc_private_zones(b, vpc_b)
        expect(len(private) == 1 and private[0]["Name"].rstrip(".") == DNS_NAME,
               f"B's VPC has private zones {[z['Name'] for z in private]}, not {DNS_NAME}")
        alias_zone = private[0]["HostedZoneId"].split("/")[-1]
        zone_tags = {t["Key"]: t["Value"] for t in b.client("route53").list_tags_for_resource(
            ResourceType="hostedzone", ResourceId=alias_zone)["ResourceTagSet"]["Tags"]}
        member = f"privatelink-autowire:alias-of:{link_id}"  # one tag per link sharing the zone
        note(f"private zone {DNS_NAME} {alias_zone}, associated with {vpc_b}, "
             f"{member} = {zone_tags.get(member)}")
        records = show_zone(b, alias_zone, f"{DNS_NAME} (private, B)")
        alias = [r for r in records if r["Name"].rstrip(".") == ALIAS and r["Type"] == "CNAME"]
        expect(len(alias) == 1 and alias[0]["ResourceRecords"][0]["Value"].rstrip(".")
               == data["DnsName"], f"no CNAME {ALIAS} → {data['DnsName']} in the private zone")
        expect(zone_tags.get(member) == ALIAS, f"the private zone does not name {link_id}")

        # ------------------------------------------------------------ 3b. a consumer that misses
        c = assume_account(url, C)
        names["C"] = az_names(c)
        say(f"3b. a second consumer, account C ({C}), whose subnets are all in AZ IDs A does not "
            "serve")
        a.client("ram").associate_resource_share(resourceShareArn=share["resourceShareArn"],
                                                 principals=[C])
        seen_by_c = json.loads(c.client("ssm").get_parameter(Name=arn)["Parameter"]["Value"])
        note(f"A adds C to the RAM share; C reads the descriptor by ARN: az_ids {seen_by_c['az_ids']}")
        expect(seen_by_c == descriptor, "C reads a different descriptor")
        vpc_c, subnets_c = build_consumer_vpc(c, unserved[:2])
        note(f"C's VPC {vpc_c}")
        show_candidates("C", subnets_c, names["C"], served)
        groups_before = {g["GroupId"] for g in vpc_groups(c, vpc_c)}
        fn_c = stack.enter_context(LambdaHarness(consumer_bootstrap, "consumer",
                                                 env=function_env(c, url),
                                                 timeout_s=FN_TIMEOUT_S, account=C,
                                                 region=REGION, async_relay=True))
        cfn_c = CloudFormation(fn_c, capture, stack_id(C, "consumer-demo"))
        link_c = {
            "ServiceParameter": arn,
            "VpcId": vpc_c,
            "SubnetIds": list(subnets_c.values()),
        }
        say("CloudFormation Create Custom::ServiceEndpoint in C")
        missed = cfn_c.request("Create", "Custom::ServiceEndpoint", "OrdersLink", link_c)
        missed_answer = missed["answer"]
        reason = missed_answer.get("Reason") or ""
        expect(missed_answer["Status"] == "FAILED", "the link without a matching AZ did not fail")
        expect(len(missed["invocations"]) == 1, "the failing link should answer in one invocation")
        for az_id, subnet in subnets_c.items():
            expect(f"{subnet} ({az_id})" in reason,
                   f"the Reason does not list candidate {subnet} with its AZ ID {az_id}")
        expect(all(z in reason for z in served), f"the Reason does not list A's AZ IDs {served}")
        expect(len(reason) < 256, f"the Reason is {len(reason)} characters long")
        left = vpc_endpoints(c, vpc_c)
        groups_after = {g["GroupId"] for g in vpc_groups(c, vpc_c)}
        zones_c = vpc_private_zones(c, vpc_c)
        note(f"in C's VPC now: {len(left)} endpoint(s), "
             f"{len(groups_after - groups_before)} new security group(s) "
             f"(only {', '.join(g['GroupName'] for g in vpc_groups(c, vpc_c))}), "
             f"{len(zones_c)} private zone(s)")
        expect(not left, f"C's VPC has endpoints {[e['VpcEndpointId'] for e in left]}")
        expect(groups_after == groups_before, f"new groups {groups_after - groups_before} in C")
        expect(not zones_c, f"C's VPC has private zones {zones_c}")
        say("CloudFormation rolls C's stack back: Delete of the link that failed to create")
        rolled = cfn_c.request("Delete", "Custom::ServiceEndpoint", "OrdersLink", link_c,
                               physical_id=missed_answer["PhysicalResourceId"])["answer"]
        expect(rolled["Status"] == "SUCCESS", f"rollback Delete: {rolled.get('Reason')}")

        say("CloudFormation Delete of the publication (OnDeleteWithConnections: fail, the default)")
        physical_id = answer["PhysicalResourceId"]
        blocked = cfn.request("Delete", "Custom::ServicePublication", "OrdersPublication",
                              publication, physical_id=physical_id)["answer"]
        expect(blocked["Status"] == "FAILED", "Delete with a connected consumer did not fail")
        expect(B in blocked["Reason"] and endpoint_id in blocked["Reason"],
               f"the Reason does not name account {B} and the link's endpoint {endpoint_id}")
        note(f"the Reason names account {B} and the link's endpoint {endpoint_id}")
        still = ssm_a.get_parameter(Name=name)["Parameter"]["Value"]
        expect(still == stored["Value"], "the descriptor changed after the failed Delete")
        note(f"descriptor {name} is still there (digest {json.loads(still)['digest'][:16]}…); "
             "B still reads it by ARN: "
             + ("yes" if aws_code(b.client("ssm").get_parameter, Name=arn) is None else "NO"))
        expect(aws_code(b.client("ssm").get_parameter, Name=arn) is None,
               "B can no longer read the descriptor after the failed Delete")

        # ------------------------------------------------------------ 4. probe the link
        link_report = probe_link(stack, b, url, probe_bootstrap, data, names["B"], descriptor)

        # ------------------------------------------------------------ 4b, 4c. the reconcilers
        def republish() -> dict:
            updated = cfn.request("Update", "Custom::ServicePublication", "OrdersPublication",
                                  publication, physical_id=answer["PhysicalResourceId"])["answer"]
            expect(updated["Status"] == "SUCCESS", f"publication Update: {updated.get('Reason')}")
            return json.loads(ssm_a.get_parameter(Name=name)["Parameter"]["Value"])

        demo_reconcile.follow_provider_change(rec, republish, a, b, net, unserved[0], 8443,
                                              endpoint_id, group_id, show_group)
        demo_reconcile.reject_unlisted(rec, a, c, net)
        demo_reconcile.show_decisions(rec)

        # ------------------------------------------------------------ 4d. a consumer's own name
        demo_certificates.own_name_certificates(stack, url, capture, a, b, c,
                                                sys.modules[__name__])

        # ------------------------------------------------------------ 5. reject, then delete
        say("5. CloudFormation Delete, the template now saying OnDeleteWithConnections: reject")
        rejecting = dict(publication, OnDeleteWithConnections="reject")
        gone = cfn.request("Delete", "Custom::ServicePublication", "OrdersPublication",
                           rejecting, physical_id=physical_id)["answer"]
        expect(gone["Status"] == "SUCCESS", f"Delete with reject: {gone.get('Reason')}")
        conn = ec2_a.describe_vpc_endpoint_connections(
            Filters=[{"Name": "vpc-endpoint-id", "Values": [endpoint_id]}])["VpcEndpointConnections"]
        state = conn[0]["VpcEndpointState"] if conn else "(not listed)"
        note(f"connection {endpoint_id} of {B}: {state}; B sees its link's endpoint "
             f"{endpoint_state(b, endpoint_id)}")
        expect(state == "rejected", f"B's connection is {state}, not rejected")
        missing = ssm_a.get_parameters(Names=[name, f"{name}/policy"])["InvalidParameters"]
        note(f"parameters gone: {sorted(missing)}")
        expect(sorted(missing) == sorted([name, f"{name}/policy"]),
               "the descriptor or the policy parameter is still there")
        b_code = aws_code(b.client("ssm").get_parameter, Name=arn)
        note(f"B reading the descriptor by ARN now: {b_code}")
        expect(b_code is not None, "B still reads the deleted descriptor")
        config = service_config(a, net.service_id)
        note(f"service private DNS name now: {config.get('PrivateDnsName') or '(none)'}")
        expect(not config.get("PrivateDnsName"), "the service still has its private DNS name")
        records = show_zone(a, zone_id)
        expect(not any(r["Name"] == txt_name for r in records),
               f"the verification TXT record {txt_name} is still in the zone")

        say("CloudFormation Delete of the certificate")
        cert_gone = cfn.request("Delete", "Custom::ServiceCertificate", "OrdersCertificate",
                                certificate, physical_id=cert_arn)["answer"]
        expect(cert_gone["Status"] == "SUCCESS", f"certificate Delete: {cert_gone.get('Reason')}")
        code = aws_code(a.client("acm").describe_certificate, CertificateArn=cert_arn)
        note(f"ACM DescribeCertificate {cert_arn[-12:]}: {code or 'still there'}")
        expect(code == "ResourceNotFoundException", f"the certificate is still there ({code})")
        records = show_zone(a, zone_id)
        expect(not ({(r["Name"], r.get("ResourceRecords", [{}])[0].get("Value")) for r in records}
                    & cnames), "a validation CNAME is still in the zone")
        certs = show_listener(a, listener)
        expect(len(certs) == 1 and certs[0].get("IsDefault"),
               "the listener does not serve its default certificate only")

        # ------------------------------------------------------------ 6. the link goes
        say(f"6. CloudFormation Delete of B's link {link_id}")
        unlinked = cfn_b.request("Delete", "Custom::ServiceEndpoint", "OrdersLink", link,
                                 physical_id=link_id)["answer"]
        expect(unlinked["Status"] == "SUCCESS", f"link Delete: {unlinked.get('Reason')}")
        state = endpoint_state(b, endpoint_id)
        group_code = aws_code(ec2_b.describe_security_groups, GroupIds=[group_id])
        zone_code = aws_code(b.client("route53").get_hosted_zone, Id=alias_zone)
        note(f"endpoint {endpoint_id}: {state}")
        note(f"security group {group_id}: {group_code or 'still there'}")
        note(f"private zone {DNS_NAME} {alias_zone}: {zone_code or 'still there'}")
        left = vpc_endpoints(b, vpc_b)
        note(f"B's VPC now: {len(left)} endpoint(s), groups "
             f"{[g['GroupName'] for g in vpc_groups(b, vpc_b)]}, "
             f"{len(vpc_private_zones(b, vpc_b))} private zone(s)")
        expect(state in ("deleted", "InvalidVpcEndpointId.NotFound"),
               f"the link's endpoint is {state}, not deleted")
        expect(not left, f"B's VPC still has endpoints {[e['VpcEndpointId'] for e in left]}")
        expect(group_code == "InvalidGroup.NotFound", f"the link's group is still there ({group_code})")
        expect(zone_code == "NoSuchHostedZone", f"the link's private zone is still there ({zone_code})")
        expect(not vpc_private_zones(b, vpc_b), "B's VPC still has a private zone")

    say("the probe report for B's link (step 4), where this walk-through ends")
    show_probe_report(link_report)
    note(f"Connect → accepted by A's reconciler (step 3): {waited['connect_to_accepted_s']:.2f} s")
    say("done: every step behaved as expected")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except DemoFailure as failure:
        print(f"\nDEMO FAILED: {failure}", file=sys.stderr, flush=True)
        sys.exit(1)
    except Exception as error:  # an AWS error, a harness failure, a timeout: a surprise too
        traceback.print_exc()
        print(f"\nDEMO FAILED: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
        sys.exit(1)
