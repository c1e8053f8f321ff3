"""Step 4d of the demo: consumer-requested certificates (contract §5), through the real binaries.

A publishes `checkout` with CertificateRequests for B's team-b.example.com. B's link asks for its
own name; each message is shown as it travels, up to the link's SUCCESS; the probe checks TLS for
the name. C, not listed, is refused with A's Reason. Then the links and the publication go. Each
account's reconciler (EVENT_BUS_NAME = its bus) gets its messages from the emulator's outbox, as
Lambda would hand them over; each account's functions call AWS through a fault proxy of their
own (no faults), which counts the calls. `demo` is demo.py's module (it imports this one).
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from binary_support import mutating
from demo_output import expect, note, say
from demo_reconcile import reconciler_arn
from eventbed import certificate_buses, join_certificate_consumer
from fault_proxy import FaultProxy
from lambda_harness import LambdaHarness
from outbox import take_events, wait_for_events
from probe_servers import TestPki, TlsServer
from testbed_fixtures import REGION, build_consumer_vpc, build_provider_network
from testbed_fixtures import build_public_zone, function_env

KEY = "checkout"
TEAMS = {"B": "team-b.example.com", "C": "team-c.example.com"}
AZ_IDS = ["use1-az1", "use1-az4"]
LINK, PUBLICATION = "Custom::ServiceEndpoint", "Custom::ServicePublication"
FN_TIMEOUT_S = 5  # shorter than the link's 10 s certificate poll: the wait is handed over
RECONCILER_TIMEOUT_S = 60
IGNORED = "no such link here; ignored"  # a consumer's reconciler, on another link's answer


@dataclass
class Account:
    """One account's part: its bus, public zone and functions (AWS calls through `proxy`)."""

    label: str
    session: Any
    proxy: FaultProxy
    bus: str = ""
    zone: str = ""
    reconciler: LambdaHarness | None = None
    cfn: Any = None  # demo.CloudFormation: its links (B, C) or its publication (A)

    @property
    def id(self) -> str:
        return self.session.account_id

    def function(self, stack: ExitStack, kind: str, timeout_s: float) -> LambdaHarness:
        env = dict(function_env(self.session, self.proxy.url),
                   EVENT_BUS_NAME=self.bus.rsplit("/", 1)[-1])
        return stack.enter_context(LambdaHarness(
            os.environ[f"AUTOWIRE_{kind.upper()}_BOOTSTRAP"], kind, env=env, timeout_s=timeout_s,
            account=self.id, region=REGION, async_relay=kind != "reconciler"))

    def calls_since(self, start: int) -> tuple[int, int]:
        """(AWS calls, mutating ones) of its functions since call number `start`."""
        calls = self.proxy.calls()[start:]
        return len(calls), len(mutating(self.proxy, calls))

    def ignored(self) -> int:
        said = [(j.get("fields") or {}).get("message") for j in self.reconciler.json_logs()]
        return said.count(IGNORED)


class Bed:
    """The section's three accounts, A's checkout service and publication, demo.py's helpers."""

    def __init__(self, stack: ExitStack, url: str, capture, sessions: dict, demo):
        self.stack, self.url, self.capture, self.demo = stack, url, capture, demo
        self.accounts = {label: Account(label, s, stack.enter_context(FaultProxy(url)))
                         for label, s in sessions.items()}
        self.a, self.b, self.c = (self.accounts[k] for k in "ABC")
        self.net: Any = None  # A's checkout service: its NLB, TLS listener, endpoint service
        self.publication, self.publication_id, self.arn = {}, "", ""  # and its publication

    def cloudformation(self, acct: Account, fn: LambdaHarness):
        return self.demo.CloudFormation(fn, self.capture, self.demo.stack_id(acct.id, "own-name"))


def own_name_certificates(stack: ExitStack, url: str, capture, a, b, c, demo) -> None:
    """The section's entry: sessions of A (provider), B (listed consumer) and C (unlisted)."""
    bed = Bed(stack, url, capture, {"A": a, "B": b, "C": c}, demo)
    wire(bed)
    publish(bed)
    alias = f"orders.{TEAMS['B']}"
    props, answer, figures = issue_own_name(bed, alias)
    probe_own_name(bed, alias)
    refuse_unlisted(bed)
    say("4d. B deletes its link: Certificate Released; A takes the certificate off the listener "
        "and deletes it; B's link removes its validation record")
    delete_link(bed, bed.b, props, answer)
    unpublish(bed)
    say("4d. the certificate flow on the emulator")
    note(f"B's Create → SUCCESS: {figures['flow_s']:.1f} s (one 10 s poll of the waiting link; "
         "on AWS add ACM's DNS validation and up to one scheduled pass, 15 minutes by default)")
    for label in "AB":
        total, changing = figures[label]
        note(f"{label}'s functions made {total} AWS calls ({changing} mutating) during it, "
             f"counted by {label}'s proxy")


def wire(bed: Bed) -> None:
    say(f"4d. consumer-requested certificates: each account's reconciler bus; B's and C's own "
        f"public zones {TEAMS['B']}, {TEAMS['C']}")
    a = bed.a
    a.bus, bed.b.bus = certificate_buses(a.session, bed.b.session, reconciler_arn(a.id),
                                         reconciler_arn(bed.b.id))
    bed.c.bus = join_certificate_consumer(a.session, a.bus, bed.c.session, reconciler_arn(a.id),
                                          reconciler_arn(bed.c.id))
    for acct in bed.accounts.values():
        acct.reconciler = acct.function(bed.stack, "reconciler", RECONCILER_TIMEOUT_S)
        note(f"{acct.label}'s bus {acct.bus} → {acct.label}'s reconciler")
    for label in "BC":
        acct = bed.accounts[label]
        acct.zone = build_public_zone(acct.session, TEAMS[label]).rsplit("/", 1)[-1]
        acct.cfn = bed.cloudformation(acct, acct.function(bed.stack, "consumer", FN_TIMEOUT_S))
        note(f"{label}'s public zone {TEAMS[label]}: {acct.zone}")
    note("each bus admits the other side; A's answers go to every consumer bus, and a consumer's "
         "reconciler takes only the answers for its own links")


def publish(bed: Bed) -> None:
    a, consumers = bed.a, [bed.b.id, bed.c.id]
    bed.net = build_provider_network(a.session, AZ_IDS, listeners=[("TLS", 443)],
                                     allowed_accounts=consumers)
    bed.publication = {"ServiceId": bed.net.service_id, "ServiceKey": KEY,
                       "TlsNames": [f"{KEY}.link.example.com"], "AllowedAccounts": consumers,
                       "CertificateRequests": [f"{bed.b.id}:{TEAMS['B']}"]}
    say(f"A publishes {KEY} (service {bed.net.service_id}, its own NLB and TLS listener), "
        f"AllowedAccounts B and C, CertificateRequests {bed.publication['CertificateRequests']}")
    a.cfn = bed.cloudformation(a, a.function(bed.stack, "provider", 30))
    answer = a.cfn.request("Create", PUBLICATION, "CheckoutPublication", bed.publication)["answer"]
    expect(answer["Status"] == "SUCCESS", f"publication Create: {answer.get('Reason')}")
    bed.publication_id, bed.arn = answer["PhysicalResourceId"], answer["Data"]["ParameterArn"]
    a.session.client("ram").create_resource_share(
        name=f"{KEY}-descriptor", resourceArns=[bed.arn], principals=consumers)
    note(f"descriptor {bed.arn} shared with B and C through RAM")
    for acct in bed.accounts.values():  # the descriptor changes A forwards to B, as in 4b
        pump(bed, acct, None)


def pump(bed: Bed, acct: Account, *kinds: str | None) -> None:
    """Hand the messages waiting for `acct`'s reconciler to it, as Lambda would, showing each;
    they must be `kinds` (None: whatever is waiting, maybe nothing)."""
    anything = kinds == (None,)
    arn = reconciler_arn(acct.id)
    events = take_events(bed.url, arn) if anything else wait_for_events(
        bed.url, arn, count=len(kinds), timeout=15)
    for e in events:
        inv = acct.reconciler.invoke_detailed(e)
        expect(inv.ok, f"{acct.label}'s reconciler failed: {inv.error}")
        show_message(bed, acct, e)
    got = [e.get("detail-type", "SNS notification") for e in events]
    expect(anything or got == list(kinds), f"{acct.label} got {got}, not {list(kinds)}")


def show_message(bed: Bed, acct: Account, e: dict) -> None:
    d = e.get("detail") or {}
    said = {"Certificate Requested": f"for {d.get('alias_name')} ({d.get('link_id')})",
            "Certificate Validation": f"{d.get('record_name')} CNAME {d.get('record_value')}",
            "Certificate Ready": f"{d.get('certificate_arn')}",
            "Certificate Refused": f"\"{d.get('reason')}\"",
            "Certificate Released": f"{d.get('alias_name')} ({d.get('link_id')})",
            "Parameter Store Change": f"({d.get('operation')} of {d.get('name')})"}
    kind = e.get("detail-type", "SNS notification")
    sender = {acct.id: acct.label for acct in bed.accounts.values()}.get(e.get("account"), "SNS")
    note(f"{sender} → {acct.label}'s reconciler: {kind} {said.get(kind, '')}".rstrip())


def answer_travels(bed: Bed, to: Account, kind: str) -> None:
    """A's answer reaches every consumer: `to`'s reconciler acts on it, the other's ignores it."""
    pump(bed, to, kind)
    other = bed.c if to is bed.b else bed.b
    before = other.ignored()
    pump(bed, other, kind)
    expect(other.ignored() == before + 1, f"{other.label}'s reconciler did not leave it alone")
    note(f"  {other.label}'s reconciler: \"{IGNORED}\"")


def scheduled(acct: Account) -> None:
    inv = acct.reconciler.invoke_detailed({
        "version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event",
        "source": "aws.events", "account": acct.id, "region": REGION, "detail": {},
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "resources": [f"arn:aws:events:{REGION}:{acct.id}:rule/backstop"]})
    expect(inv.ok, f"{acct.label}'s scheduled pass failed: {inv.error}")
    note(f"{acct.label}'s scheduled pass: {inv.result['consumer_certificates']} consumer "
         "certificate(s) looked at")


def certificates_for(bed: Bed, name: str) -> list[dict]:
    acm = bed.a.session.client("acm")
    return [c for c in acm.list_certificates()["CertificateSummaryList"] if c["DomainName"] == name]


def served(bed: Bed) -> list[str]:
    """The consumer certificates A's checkout listener serves by SNI."""
    certs = bed.demo.listener_certificates(bed.a.session, bed.net.listener_arns[-1])
    return [c["CertificateArn"] for c in certs if not c.get("IsDefault")]


def validation_records(bed: Bed, acct: Account) -> list[dict]:
    return [r for r in bed.demo.zone_records(acct.session, acct.zone) if r["Type"] == "CNAME"]


def asked(acct: Account, first) -> None:  # the link's first invocation, which asked
    expect(first.ok and "continued" in (first.payload or {}),
           f"{acct.label}'s link did not hand its wait over: {first.result}")
    note(f"{acct.label}'s link asked (its first invocation) and waits; the messages:")


def handshake(bed: Bed, alias: str, first) -> None:
    """While B's link waits: the messages, each handed on as it arrives."""
    asked(bed.b, first)
    pump(bed, bed.a, "Certificate Requested")
    [cert] = certificates_for(bed, alias)
    expect(not served(bed), "served before it was issued")
    note(f"A's ACM: {alias} {cert['Status']}, not served yet")
    answer_travels(bed, bed.b, "Certificate Validation")
    bed.demo.show_zone(bed.b.session, bed.b.zone, f"{TEAMS['B']} (public, B)")
    expect(len(validation_records(bed, bed.b)) == 1, "no validation record in B's zone")
    scheduled(bed.a)
    expect(served(bed) == [cert["CertificateArn"]], "A's pass did not serve it by SNI")
    bed.demo.show_listener(bed.a.session, bed.net.listener_arns[-1])
    answer_travels(bed, bed.b, "Certificate Ready")
    note("B's link's invocations, from CloudFormation's event to its answer:")


def link_props(bed: Bed, acct: Account, alias: str) -> dict:
    vpc_id, subnets = build_consumer_vpc(acct.session, AZ_IDS)
    return {"ServiceParameter": bed.arn, "VpcId": vpc_id, "SubnetIds": list(subnets.values()),
            "AliasName": alias, "AliasCertificate": "request", "AliasValidationZoneId": acct.zone}


def issue_own_name(bed: Bed, alias: str) -> tuple[dict, dict, dict]:
    b, props = bed.b, link_props(bed, bed.b, alias)
    say(f"4d. B links to {KEY} with AliasName {alias}, AliasCertificate: request, "
        f"AliasValidationZoneId {b.zone} ({KEY}'s TLS names do not cover the alias; the "
        "certificate it asks for will)")
    starts = {label: len(bed.accounts[label].proxy.calls()) for label in "AB"}
    started = time.time()
    answer = b.cfn.request("Create", LINK, "OrdersOwnName", props,
                           while_waiting=lambda first: handshake(bed, alias, first))["answer"]
    [arrived] = [r["time"] for r in bed.capture.responses()
                 if (r.get("body") or {}).get("RequestId") == answer["RequestId"]]
    figures = {"flow_s": arrived - started}
    figures.update({label: bed.accounts[label].calls_since(n) for label, n in starts.items()})
    expect(answer["Status"] == "SUCCESS", f"link Create: {answer.get('Reason')}")
    [arn] = served(bed)
    detail = bed.a.session.client("acm").describe_certificate(CertificateArn=arn)["Certificate"]
    note(f"A's listener serves {arn} for {detail['DomainName']}: ACM status {detail['Status']}")
    expect(detail["DomainName"] == alias and detail["Status"] == "ISSUED",
           f"the served certificate is {detail['DomainName']} {detail['Status']}")
    return props, answer, figures


def probe_own_name(bed: Bed, alias: str) -> None:
    say(f"4d. the real probe checks TLS for {alias} against a loopback server whose certificate "
        "(from a demo CA) names it: the stand-in for A's NLB serving it by SNI")
    stack, demo = bed.stack, bed.demo
    pki = TestPki(Path(stack.enter_context(tempfile.TemporaryDirectory())), name="demo CA")
    leaf = pki.leaf([alias], valid_days=demo.CERT_DAYS, label="own-name")
    server = stack.enter_context(TlsServer(leaf, mode="http", status=200))
    target = {"name": "own name", "host": alias, "port": server.port, "service_key": KEY,
              "tls": {"server_name": alias, "expect_names": [alias], "ca_bundle_pem": pki.ca_pem},
              "http": {"path": "/health", "expect_status": 200}}
    note(f"{alias} -> 127.0.0.1:{server.port} in the probe's hosts, system DNS off; TLS server "
         f"name and expect_names {alias}")
    probe = stack.enter_context(LambdaHarness(
        demo.probe_binary(), "probe", env=function_env(bed.b.session, bed.url), timeout_s=10,
        account=bed.b.id, region=REGION))
    inv = probe.invoke_detailed(demo.probe_event([target]))
    expect(inv.ok and not inv.timed_out, f"the probe failed: {inv.error}")
    demo.show_probe_report(inv.payload)
    [t] = inv.payload["targets"]
    expect(inv.payload["ok"] and t["ok"] and t["stage"] == "http", f"the probe: {t}")
    expect(t["tls"]["names"] == [alias], f"the server's certificate names {t['tls']['names']}")
    expect(server.sni == [alias], f"the probe sent SNI {server.sni}")
    probe.stop()


def refusal(bed: Bed, first) -> None:
    asked(bed.c, first)
    pump(bed, bed.a, "Certificate Requested")
    answer_travels(bed, bed.c, "Certificate Refused")
    note("C's link's invocations:")


def refuse_unlisted(bed: Bed) -> None:
    c, alias = bed.c, f"orders.{TEAMS['C']}"
    say(f"4d. account C ({c.id}) may link to {KEY} but is not in its CertificateRequests; "
        f"C's link asks for {alias} (C's own zone)")
    props = link_props(bed, c, alias)
    answer = c.cfn.request("Create", LINK, "OrdersOwnName", props,
                           while_waiting=lambda first: refusal(bed, first))["answer"]
    reason = answer.get("Reason") or ""
    expect(answer["Status"] == "FAILED" and "may not ask" in reason and len(reason) < 256,
           f"C's link: {answer['Status']} {reason}")
    left = certificates_for(bed, alias)
    note(f"A's ACM certificates for {alias}: {len(left)}; SNI certificates on A's listener: "
         f"{len(served(bed))} (B's)")
    expect(not left and len(served(bed)) == 1, "A kept something of C's request")
    say("CloudFormation rolls C's stack back: Delete of the link that failed")
    delete_link(bed, c, props, answer)


def delete_link(bed: Bed, acct: Account, props: dict, answer: dict) -> None:
    """The link's Delete and its Released to A; then nothing of the link is left anywhere."""
    gone = acct.cfn.request("Delete", LINK, "OrdersOwnName", props,
                            physical_id=answer["PhysicalResourceId"])["answer"]
    expect(gone["Status"] == "SUCCESS", f"{acct.label}'s link Delete: {gone.get('Reason')}")
    pump(bed, bed.a, "Certificate Released")
    demo, session, vpc, alias = bed.demo, acct.session, props["VpcId"], props["AliasName"]
    left = {f"endpoint(s) in {acct.label}'s VPC": demo.vpc_endpoints(session, vpc),
            "security group(s) besides default": [
                g for g in demo.vpc_groups(session, vpc) if g["GroupName"] != "default"],
            "private zone(s)": demo.vpc_private_zones(session, vpc),
            f"validation record(s) in {TEAMS[acct.label]}": validation_records(bed, acct),
            f"certificate(s) for {alias} in A": certificates_for(bed, alias)}
    note("left: " + ", ".join(f"{len(v)} {k}" for k, v in left.items())
         + f"; {len(served(bed))} SNI certificate(s) on A's listener")
    expect(not any(left.values()), f"{acct.label}'s link left something behind")
    expect(acct is bed.c or not served(bed), "A's listener still serves B's certificate")


def unpublish(bed: Bed) -> None:
    say(f"4d. A deletes the {KEY} publication")
    gone = bed.a.cfn.request("Delete", PUBLICATION, "CheckoutPublication", bed.publication,
                             physical_id=bed.publication_id)["answer"]
    expect(gone["Status"] == "SUCCESS", f"publication Delete: {gone.get('Reason')}")
    code = bed.demo.aws_code(bed.a.session.client("ssm").get_parameter, Name=bed.arn)
    note(f"descriptor {bed.arn}: {code}")
    expect(code is not None, "the descriptor is still there")
