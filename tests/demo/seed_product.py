"""The nested product as `make demo-seeds` models it: an example's AWS::Serverless::Application
(Location ../../template.yaml) gives its stack the outputs template.yaml would, for the
parameters the example passes it. The parameters are checked against template.yaml's own
(names, allowed values, patterns); the function ARNs are those of the real binaries under the
harness; the isolated example VPC (with its AWS-service endpoints) and the probe's security group
are made on the emulator as template.yaml declares them.
"""

from __future__ import annotations

from demo_output import expect
from seed_resources import HANDLERS, generated_name
from seed_template import PRODUCT, cidrs, load, parameters

LOCATION = "../../template.yaml"


class Product:
    """`arns`: {"provider": ..., "consumer": ..., "probe": ...}, the functions' ARNs."""

    def __init__(self, arns: dict[str, str]):
        self.template = load(PRODUCT)
        self.arns = arns
        self.made: dict[str, list[tuple[str, str, dict]]] = {}  # ref -> [(type, ref, atts)]

    def _make(self, ref: str, session, rtype: str, name: str, props: dict) -> tuple[str, dict]:
        made, atts, _ = HANDLERS[rtype].create(session, generated_name(ref, name), props)
        self.made[ref].append((rtype, made, atts))
        return made, atts

    def _isolated_vpc(self, ref: str, session, p: dict) -> dict:
        """template.yaml's IsolatedExampleVpc: DNS on, one route table with the local route only,
        a subnet in each of IsolatedExampleAzIds (else the Region's first three AZs), the
        AWS-service endpoints."""
        vpc, vpc_atts = self._make(ref, session, "AWS::EC2::VPC", "IsolatedExampleVpc", {
            "CidrBlock": p["IsolatedExampleVpcCidr"], "EnableDnsSupport": True,
            "EnableDnsHostnames": True})
        table, _ = self._make(ref, session, "AWS::EC2::RouteTable", "Routes", {"VpcId": vpc})
        ids = [i for i in p["IsolatedExampleAzIds"] if i]
        zones = session.client("ec2").describe_availability_zones()["AvailabilityZones"]
        where = ([{"AvailabilityZoneId": i} for i in ids] if ids
                 else [{"AvailabilityZone": z["ZoneName"]} for z in zones])
        blocks = cidrs(vpc_atts["CidrBlock"], 3, 8)
        subnets = []
        for i, (zone, block) in enumerate(zip(where[:3], blocks), 1):
            subnet, _ = self._make(ref, session, "AWS::EC2::Subnet", f"Subnet{i}", {
                "VpcId": vpc, "CidrBlock": block, **zone})
            self._make(ref, session, "AWS::EC2::SubnetRouteTableAssociation", f"Routes{i}",
                       {"SubnetId": subnet, "RouteTableId": table})
            subnets.append(subnet)
        self._aws_service_endpoints(ref, session, vpc, vpc_atts["CidrBlock"], subnets,
                                    [s for s in p["IsolatedExampleAwsServiceEndpoints"] if s])
        return {"IsolatedExampleVpcId": vpc, "IsolatedExampleSubnetIds": ",".join(subnets),
                "_cidr": vpc_atts["CidrBlock"]}

    def _aws_service_endpoints(self, ref, session, vpc, cidr, subnets, services) -> None:
        if not services:
            return
        group, _ = self._make(ref, session, "AWS::EC2::SecurityGroup", "AwsServices", {
            "GroupDescription": "AWS-service endpoints - HTTPS from the VPC", "VpcId": vpc,
            "SecurityGroupIngress": [{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
                                      "CidrIp": cidr}]})
        for service in services:
            self._make(ref, session, "AWS::EC2::VPCEndpoint", service, {
                "VpcEndpointType": "Interface", "VpcId": vpc, "SubnetIds": subnets,
                "ServiceName": f"com.amazonaws.{session.region_name}.{service}",
                "SecurityGroupIds": [group], "PrivateDnsEnabled": True})

    def _probe_group(self, ref: str, session, vpc: str, cidr: str, ports: list[str]) -> str:
        """template.yaml's ProbeSecurityGroup: no ingress, TCP egress to ProbePorts (at most 5)
        inside the VPC's block and nowhere else."""
        group, _ = self._make(ref, session, "AWS::EC2::SecurityGroup", "ProbeSecurityGroup", {
            "GroupDescription": "privatelink-autowire probe", "VpcId": vpc,
            "SecurityGroupEgress": [{"IpProtocol": "tcp", "FromPort": p, "ToPort": p,
                                     "CidrIp": cidr} for p in ports[:5]]})
        return group

    def create(self, session, name: str, props: dict):
        expect(props.get("Location") == LOCATION,
               f"{name}: Location is {props.get('Location')!r}, not {LOCATION}")
        p = parameters(self.template, props.get("Parameters", {}), f"{name} (template.yaml)")
        ref = f"nested-{name}-{session.account_id}"
        self.made[ref] = []
        side = p["Deploy"]
        out = {}
        if side != "consumer":
            out["ProviderFunctionArn"] = self.arns["provider"]
        if side != "provider":
            out["ConsumerFunctionArn"] = self.arns["consumer"]
            out.update(self._consumer_outputs(ref, session, p))
        missing = sorted(set(out) - set(self.template["Outputs"]) - {"_cidr"})
        expect(not missing, f"template.yaml has no outputs {missing} any more")
        out.pop("_cidr", None)
        shown = ", ".join(f"{k}" for k in sorted(out))
        return ref, {f"Outputs.{k}": v for k, v in out.items()}, \
            f"template.yaml, Deploy={side}; outputs {shown}"

    def _consumer_outputs(self, ref: str, session, p: dict) -> dict:
        out = {}
        isolated = p["CreateIsolatedExampleVpc"] == "true"
        if isolated:
            out = self._isolated_vpc(ref, session, p)
        in_given = p["ProbeVpcId"] != ""
        in_isolated = isolated and not in_given and (
            p["ProbeTargetsJson"] != ""
            or (p["ExampleLinkVerifyReachability"] == "true" and p["ProbeFunctionArn"] == ""))
        if in_given or in_isolated:
            vpc = p["ProbeVpcId"] if in_given else out["IsolatedExampleVpcId"]
            cidr = p["ProbeVpcCidr"] if in_given else out["_cidr"]
            out["ProbeSecurityGroupId"] = self._probe_group(ref, session, vpc, cidr,
                                                            p["ProbePorts"])
            out["ProbeFunctionArn"] = self.arns["probe"]
        return out

    def delete(self, session, ref: str, atts: dict) -> None:
        for rtype, made, made_atts in reversed(self.made[ref]):
            HANDLERS[rtype].delete(session, made, made_atts)

    def exists(self, session, ref: str, atts: dict) -> bool:
        return any(HANDLERS[t].exists(session, m, a) for t, m, a in self.made[ref])
