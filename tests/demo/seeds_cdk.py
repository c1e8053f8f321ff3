"""The CDK write-up (../shared/seeds/004_*) in `make demo-seeds`: examples/cdk-writeup/ deployed
on the emulator, provider in account A, consumer in account B.

provider.yaml builds the isolated VPC, the ALB with its fixed response, the NLB with the ALB as
its target, the endpoint service (auto-accept, B allowed) and the publication. consumer.yaml
builds the product's isolated VPC with the probe in it, and the link that admits the probe's
group only; the link's Create asks the probe (the deploy gate) before it answers. The ALB is a
loopback HTTP server answering the template's own fixed response; the probe's scheduled input is
the template's ProbeTargetsJson. Troubleshooting (b): "Private DNS can't be enabled", caught by
the link with its fix in the Reason; (c): the provider's delete while B is connected, met by the
publication's OnDeleteWithConnections: reject.
"""

from __future__ import annotations

import json

from botocore.exceptions import ClientError

from demo import aws_code, endpoint_state
from demo_output import DemoFailure, expect, note, say
from seed_template import EXAMPLES, load
from seeds_common import A, B, LOOPBACK, SeedRun, expect_all_ok, link_rules, read_descriptor, \
    refused, run_probe, show_link

EXAMPLE = "cdk-writeup"


class Cdk(SeedRun):
    def fixed_response(self) -> dict:
        """The ALB listener's fixed response, as provider.yaml declares it."""
        listener = load(EXAMPLES / EXAMPLE / "provider.yaml")["Resources"]["AlbListener"]
        return listener["Properties"]["DefaultActions"][0]["FixedResponseConfig"]

    def deploy(self) -> None:
        fixed = self.fixed_response()
        self.alb = self.seeds.server(fixed["MessageBody"].encode())
        say(f"CDK write-up: the ALB's stand-in, 127.0.0.1:{self.alb.port}, answers "
            f"{fixed['StatusCode']} \"{fixed['MessageBody']}\" (provider.yaml's fixed response); "
            "the NLB's listener (ServicePort) is that port")
        self.provider = self.seeds.stack(EXAMPLE, "provider", {
            "ConsumerAccountId": B, "ServicePort": str(self.alb.port),
            "AvailabilityZoneIds": self.shared_az_ids()})
        out = self.provider.deploy()
        self.check_provider(out)
        self.consumer = self.seeds.stack(EXAMPLE, "consumer", {
            "ProviderAccountId": A, "ServiceParameterArn": out["DescriptorArn"],
            "ServicePort": str(self.alb.port)})
        self.seeds.aim_probe([self.consumer.params["AliasName"], "*.vpce.amazonaws.com"])
        self.consumer.deploy()
        self.check_consumer()

    def shared_az_ids(self) -> list[str]:
        """The write-up's AZ trap: A's first two Availability Zones (CDK's maxAzs 2) and the
        three of B's isolated VPC may be different physical zones. Serve two of B's instead."""
        a, b = ([z["ZoneId"] for z in s.client("ec2").describe_availability_zones()[
            "AvailabilityZones"]][:n] for s, n in ((self.seeds.a, 2), (self.seeds.b, 3)))
        common = "some AZ IDs in common" if set(a) & set(b) else "no AZ ID in common"
        note(f"A's first two AZs are {a}, B's isolated VPC takes its first three, {b}: {common}; "
             f"the provider serves AvailabilityZoneIds={','.join(b[1:])} instead")
        return b[1:]

    def check_provider(self, out: dict) -> None:
        a, p = self.seeds.a, self.provider
        health = a.client("elbv2").describe_target_health(
            TargetGroupArn=p.refs["NlbTargets"])["TargetHealthDescriptions"]
        targets = [f"{h['Target']['Id'].rsplit('/', 2)[-2]}:{h['Target']['Port']}" for h in health]
        note(f"the NLB's target group (type alb) holds {targets}")
        expect([h["Target"]["Id"] for h in health] == [p.refs["Alb"]], "the ALB is not the target")
        self.descriptor = d = read_descriptor(self.seeds.b, out["DescriptorArn"])
        expect(d["ports"] == [{"port": self.alb.port, "protocol": "TCP"}]
               and d["acceptance"] == "auto" and d["private_dns"] is None, f"descriptor {d}")

    def gate(self) -> list:
        """The probe invocations the link's Create made (the consumer's Lambda Invoke)."""
        consumer = self.seeds.function("consumer")
        return [c for c in consumer.relay_calls() if c.invocation_type == "RequestResponse"]

    def check_consumer(self) -> None:
        c = self.consumer
        data = show_link(c, "Link", self.descriptor)
        probe_group = c.atts["Product"]["Outputs.ProbeSecurityGroupId"]
        rules = link_rules(c, "Link")
        port = self.alb.port
        expect(rules == [("tcp", port, port, probe_group)],
               f"the link's group admits {rules}, not tcp {port} from the probe's {probe_group}")
        note(f"the endpoint admits the probe's group {probe_group} only (the write-up's "
             "open: false and allowFrom(lambdaSecurityGroup))")
        calls = self.gate()
        expect(len(calls) == 1 and calls[0].invocation and calls[0].invocation.ok,
               f"the link invoked the probe {len(calls)} times")
        report = calls[0].invocation.payload
        say(f"the link's deploy gate: one synchronous invoke of {calls[0].function_name}, "
            f"{len(report['targets'])} targets, ok {report['ok']}")
        for t in report["targets"]:
            note(f"  {t['host']}:{t['port']} {t.get('az_id') or 'regional'}: {t['stage']} "
                 f"{'ok' if t['ok'] else t.get('error')}")
        expect(report["ok"] and data["State"] == "available", f"the gate's report {report}")

    def probe(self) -> dict:
        """The probe's scheduled input (ProbeTargetsJson in consumer.yaml), with every name
        mapped to 127.0.0.1; then once against a server with another body."""
        scheduled = json.loads(self.consumer.props["Product"]["Parameters"]["ProbeTargetsJson"])
        targets = [dict(t, name=f"target {i}") for i, t in enumerate(scheduled["targets"], 1)]
        event = dict(scheduled, targets=targets, hosts={t["host"]: LOOPBACK for t in targets},
                     system_dns=False)
        want = targets[0]["http"]["expect_body_contains"]
        say(f"CDK write-up: the probe's scheduled input from consumer.yaml (GET / must answer "
            f"200 with \"{want}\"), the alias → 127.0.0.1 (the ALB's stand-in)")
        note(json.dumps(scheduled["targets"][0]))
        report = run_probe(self.seeds, event, "CDK write-up")
        expect_all_ok(report, [self.alb])
        note(f"the body check \"{want}\": matched ({report['targets'][0]['http']})")
        other = self.seeds.server(b"Welcome to nginx!")
        wrong = dict(event, targets=[dict(t, port=other.port) for t in targets])
        [t] = run_probe(self.seeds, wrong, "the same check against a server saying "
                                          "\"Welcome to nginx!\"")["targets"]
        note(f"{t['stage']}: {t['error']['class']}: {t['error']['message']}")
        expect(t["error"]["class"] == "http_body", f"the body check did not bite: {t}")
        return report

    def private_dns(self) -> str:
        """(b) The write-up's privateDnsEnabled: true against a service without a private DNS
        name: AWS's own refusal, then the link's, with the fix in its Reason."""
        c, b = self.consumer, self.seeds.b
        props = dict(c.props["Link"], PrivateDns="enabled")
        say("(b) the CDK write-up's \"Private DNS can't be enabled\": the endpoint with private "
            "DNS on, against a service that has no private DNS name")
        try:
            b.client("ec2").create_vpc_endpoint(
                VpcEndpointType="Interface", VpcId=props["VpcId"],
                SubnetIds=c.atts["Link"]["SubnetIds"].split(",")[:1],
                ServiceName=self.descriptor["service_name"], PrivateDnsEnabled=True)
        except ClientError as e:
            aws_says = e.response["Error"]["Message"]
        else:
            raise DemoFailure("AWS created an endpoint with private DNS on")
        note(f"what the write-up met, from AWS (CreateVpcEndpoint): {aws_says}")
        expect(aws_says.startswith("Private DNS can't be enabled"), "AWS refused otherwise")
        say("the link with PrivateDns: enabled (the write-up's line) is refused before anything "
            "is created")
        return refused(c, "Link", props, "LinkWithPrivateDns",
                       ["PrivateDns", "no verified private DNS name", "use auto or disabled"])

    def delete_with_connections(self) -> None:
        """(c) The write-up's provider that could not be deleted while B's endpoint was
        connected: deleting provider.yaml's stack now rejects B first (the publication's
        OnDeleteWithConnections: reject), so the service and the NLB go."""
        a, b, p = self.seeds.a, self.seeds.b, self.provider
        endpoint = self.consumer.atts["Link"]["EndpointId"]
        say(f"(c) the CDK write-up's provider delete while B's endpoint {endpoint} is connected")
        out = a.client("ec2").delete_vpc_endpoint_service_configurations(
            ServiceIds=[p.refs["EndpointService"]])
        [refusal] = out["Unsuccessful"]
        note(f"AWS, asked to delete the endpoint service first: {refusal['Error']['Code']}: "
             f"{refusal['Error']['Message']} (the write-up met this on its NLB)")
        on_delete = p.props["Publication"]["OnDeleteWithConnections"]
        note(f"the publication says OnDeleteWithConnections: {on_delete}; it references the "
             "service, so CloudFormation deletes it first")
        arn = p.atts["Publication"]["ParameterArn"]
        p.delete()
        state = endpoint_state(b, endpoint)
        note(f"B's endpoint {endpoint}: {state}; B reading the descriptor: "
             f"{aws_code(b.client('ssm').get_parameter, Name=arn)}")
        expect(state == "rejected", f"B's endpoint is {state}, not rejected")
        expect(aws_code(b.client("ssm").get_parameter, Name=arn) is not None,
               "B still reads the deleted descriptor")
