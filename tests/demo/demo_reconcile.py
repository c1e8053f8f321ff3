"""The demo's reconciler: A's and B's reconcilers (the real binary), the event paths between the
accounts as the emulator makes AWS's events, and the steps that show them.

- A's endpoint service notifies `Connect` to A's SNS topic (set up by the publication), which A's
  reconciler subscribes to: it accepts or rejects by the publication's policy.
- A's descriptor changes (`Parameter Store Change` on A's default bus) are forwarded by the rule
  the provider template defines to B's bus, whose policy admits A; B's rule sends them to B's
  reconciler, which converges B's link.

Lambda would invoke the reconcilers with those events; here the demo takes them from the
emulator's outbox and invokes the binaries with them.
"""

from __future__ import annotations

import datetime
import json
import time
from contextlib import ExitStack

from demo_output import expect, note, say
from eventbed import PARAMETER_CHANGE, consumer_bus, forward_rule, unique, vpce_topic
from lambda_harness import LambdaHarness
from outbox import take_events, wait_for_events
from testbed_fixtures import REGION, build_consumer_vpc, function_env, subnet_for_az_id

PREFIX = "/privatelink-autowire/services"
TIMEOUT_S = 60


def reconciler_arn(account: str) -> str:
    return f"arn:aws:lambda:{REGION}:{account}:function:reconciler"


class Reconcilers:
    """Both accounts' event paths (made now) and reconcilers (started by `start`)."""

    def __init__(self, url: str, a, b):
        self.url, self.sessions = url, {"A": a, "B": b}
        self.topic, _ = vpce_topic(a, function=reconciler_arn(a.account_id))
        bus_arn = consumer_bus(b, allow_account=a.account_id)
        bus = bus_arn.rsplit("/", 1)[-1]
        rule = unique("descriptor-changes")
        events = b.client("events")
        events.put_rule(Name=rule, EventBusName=bus, EventPattern=json.dumps(PARAMETER_CHANGE))
        events.put_targets(Rule=rule, EventBusName=bus, Targets=[
            {"Id": "Reconciler", "Arn": reconciler_arn(b.account_id)}])
        forward_rule(a, PREFIX, bus_arn)
        self.bus_arn, self.fns = bus_arn, {}

    def start(self, stack: ExitStack, bootstrap: str) -> None:
        for label, session in self.sessions.items():
            self.fns[label] = stack.enter_context(LambdaHarness(
                bootstrap, "reconciler", env=function_env(session, self.url),
                timeout_s=TIMEOUT_S, account=session.account_id, region=REGION))

    def deliver(self, label: str, count: int = 1) -> list[tuple[dict, dict]]:
        """Wait for `count` events for the reconciler of `label`, and run it on each (and on any
        that came with them) → (event, answer) pairs."""
        arn = reconciler_arn(self.sessions[label].account_id)
        events = wait_for_events(self.url, arn, count=count, timeout=15)
        out = []
        for e in events:
            inv = self.fns[label].invoke_detailed(e)
            expect(inv.ok, f"{label}'s reconciler failed: {inv.error}")
            out.append((e, inv.result))
        return out

    def drop_pending(self, label: str) -> None:
        take_events(self.url, reconciler_arn(self.sessions[label].account_id))

    def decision_lines(self) -> list[dict]:
        return [j for j in self.fns["A"].json_logs()
                if (j.get("fields") or {}).get("message") == "acceptance decision"]


def _published_at(sns_event: dict) -> datetime.datetime:
    stamp = sns_event["Records"][0]["Sns"]["Timestamp"]
    return datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def accept_by_policy(rec: Reconcilers) -> float:
    """Step 3: B's endpoint waits; A's reconciler gets the Connect notification and accepts by
    policy. → seconds from Connect (the notification's publication) to accepted."""
    [(event, answer)] = rec.deliver("A")
    done = datetime.datetime.now(datetime.timezone.utc)
    took = (done - _published_at(event)).total_seconds()
    message = json.loads(event["Records"][0]["Sns"]["Message"])
    note(f"A's SNS topic notified {message.get('ConnectionEvent')} of {message.get('VpcEndpointId')} "
         f"(owner {message.get('VpcEndpointOwner')}); A's reconciler ran one pass:")
    note(f"accepted {answer['provider']['accepted']}, rejected {answer['provider']['rejected']}, "
         f"left pending {answer['provider']['left_pending']}")
    pass_ms = rec.fns["A"].invocations[-1].duration_s * 1000
    note(f"Connect → accepted in {took:.2f} s: the demo hands the notification over once B's "
         f"first invocation has returned; the pass itself took {pass_ms:.0f} ms")
    expect(answer["provider"]["accepted"] == 1, f"A's reconciler did not accept: {answer}")
    return took


def _add_az_and_port(a, net, az_id: str, port: int) -> None:
    ec2, elbv2 = a.client("ec2"), a.client("elbv2")
    cidr = ec2.describe_vpcs(VpcIds=[net.vpc_id])["Vpcs"][0]["CidrBlock"]
    subnet = subnet_for_az_id(ec2, net.vpc_id, az_id, cidr.replace(".0.0/16", ".200.0/24"))
    elbv2.set_subnets(LoadBalancerArn=net.nlb_arn, Subnets=[*net.subnet_ids.values(), subnet])
    net.subnet_ids[az_id] = subnet
    first = elbv2.describe_listeners(ListenerArns=[net.listener_arns[0]])["Listeners"][0]
    listener = elbv2.create_listener(
        LoadBalancerArn=net.nlb_arn, Protocol="TLS", Port=port, SslPolicy=first["SslPolicy"],
        Certificates=first["Certificates"], DefaultActions=first["DefaultActions"])
    net.listener_arns.append(listener["Listeners"][0]["ListenerArn"])


def follow_provider_change(rec: Reconcilers, republish, a, b, net, az_id: str, port: int,
                           endpoint_id: str, group_id: str, show_group) -> None:
    """Step 4b: A serves one more AZ and port and republishes; B's reconciler converges B's link
    with no stack update in B."""
    say(f"4b. A's service gains AZ {az_id} and port {port}; A republishes (a stack Update in A). "
        "B's link follows, with no stack update in B")
    ec2_b = b.client("ec2")
    before = ec2_b.describe_vpc_endpoints(VpcEndpointIds=[endpoint_id])["VpcEndpoints"][0]
    note(f"B's endpoint before: subnets {sorted(before['SubnetIds'])}")
    rec.drop_pending("B")
    _add_az_and_port(a, net, az_id, port)
    descriptor = republish()
    note(f"descriptor now: az_ids {descriptor['az_ids']}, ports "
         f"{[p['port'] for p in descriptor['ports']]}")
    for event, answer in rec.deliver("B"):
        note(f"B's bus got {event['detail-type']} ({event['detail']['operation']} of "
             f"{event['detail']['name']}, account {event['account']}); B's reconciler: "
             f"{json.dumps({k: answer['consumer'][k] for k in ('links', 'converged', 'pending')})}")
    after = ec2_b.describe_vpc_endpoints(VpcEndpointIds=[endpoint_id])["VpcEndpoints"][0]
    note(f"B's endpoint after:  subnets {sorted(after['SubnetIds'])} (same endpoint, in place)")
    expect(len(after["SubnetIds"]) == len(before["SubnetIds"]) + 1,
           "B's endpoint did not gain a subnet in the new AZ")
    rules = show_group(b, group_id)
    expect(any(lo == port for _, lo, _, _ in rules), f"B's group does not admit port {port}")


def reject_unlisted(rec: Reconcilers, a, c, net) -> None:
    """Step 4c: an account A lets see the service, but not in AllowedAccounts, asks to connect."""
    say(f"4c. account C ({c.account_id}) may see A's service (an allowed principal A added by "
        "hand) but is not in AllowedAccounts; C asks to connect")
    a.client("ec2").modify_vpc_endpoint_service_permissions(
        ServiceId=net.service_id, AddAllowedPrincipals=[f"arn:aws:iam::{c.account_id}:root"])
    vpc_c, subnets_c = build_consumer_vpc(c, [next(iter(net.subnet_ids))])
    endpoint = c.client("ec2").create_vpc_endpoint(
        VpcEndpointType="Interface", VpcId=vpc_c, ServiceName=net.service_name,
        SubnetIds=list(subnets_c.values()))["VpcEndpoint"]["VpcEndpointId"]
    started = time.monotonic()
    [(_, answer)] = rec.deliver("A")
    state = c.client("ec2").describe_vpc_endpoints(
        VpcEndpointIds=[endpoint])["VpcEndpoints"][0]["State"]
    note(f"C's endpoint {endpoint}: {state}, {time.monotonic() - started:.2f} s after Connect "
         "(notification delivered at once)")
    expect(answer["provider"]["rejected"] == 1 and state == "rejected",
           f"C's request was not rejected: {answer}")


def show_decisions(rec: Reconcilers) -> None:
    say("A's reconciler: one JSON decision line per decision (and one EMF count each)")
    for line in rec.decision_lines():
        f = line["fields"]
        print(json.dumps({k: f[k] for k in ("service_id", "service_key", "requester_account",
                                             "endpoint_id", "decision", "rule")}), flush=True)
    emf = [line for line in rec.fns["A"].stdout_lines() if "AcceptanceDecisions" in line]
    note(f"{len(emf)} EMF line(s) for AcceptanceDecisions, e.g.")
    if emf:
        print(emf[0], flush=True)
    expect(len(emf) == len(rec.decision_lines()) >= 2, "a decision without its EMF count")
