"""The AWS resource types the example templates declare, made on the emulator from their
resolved Properties as CloudFormation would (EC2, ELBv2, RAM), deleted again, and looked up to
prove them gone. Each handler: `create(ec2/elbv2 session, name, props) -> (Ref value, attributes,
one-line summary)`, `delete(session, ref, attributes)`, `exists(session, ref, attributes)`.
A property a handler does not know fails the demo, so an example cannot say more than the demo
builds.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Callable

from botocore.exceptions import ClientError

from demo_output import expect
from testbed_fixtures import wait_for_endpoint_state


@dataclass
class Handler:
    create: Callable
    delete: Callable
    exists: Callable
    known: frozenset  # the properties the handler reads


def flag(value) -> bool:
    return str(value).lower() == "true"


def generated_name(prefix: str, logical_id: str, limit: int = 32) -> str:
    """A name as CloudFormation makes one for an unnamed resource: stack, logical ID, random."""
    suffix = secrets.token_hex(3)
    return f"{prefix}-{logical_id}"[: limit - len(suffix) - 1] + f"-{suffix}"


def found(call, *args, **kwargs) -> bool:
    """Whether a Describe call finds its resource (False on a NotFound-style error)."""
    try:
        return bool(call(*args, **kwargs))
    except ClientError as e:
        code = e.response["Error"]["Code"]
        expect("NotFound" in code or "Invalid" in code, f"unexpected {code}: {e}")
        return False


# ---------------------------------------------------------------- EC2 networks


def create_vpc(s, name, p):
    ec2 = s.client("ec2")
    vpc = ec2.create_vpc(CidrBlock=p["CidrBlock"])["Vpc"]["VpcId"]
    for attr in ("EnableDnsSupport", "EnableDnsHostnames"):
        ec2.modify_vpc_attribute(VpcId=vpc, **{attr: {"Value": flag(p.get(attr, False))}})
    dns = "on" if flag(p.get("EnableDnsSupport")) and flag(p.get("EnableDnsHostnames")) else "off"
    return vpc, {"CidrBlock": p["CidrBlock"], "VpcId": vpc}, \
        f"{p['CidrBlock']}, DNS support and hostnames {dns}, no internet gateway, no NAT"


def create_subnet(s, name, p):
    where = ({"AvailabilityZoneId": p["AvailabilityZoneId"]} if "AvailabilityZoneId" in p
             else {"AvailabilityZone": p["AvailabilityZone"]})
    expect(not flag(p.get("MapPublicIpOnLaunch", False)), f"{name} maps public IPs")
    sub = s.client("ec2").create_subnet(VpcId=p["VpcId"], CidrBlock=p["CidrBlock"], **where)
    sub = sub["Subnet"]
    return sub["SubnetId"], {"AvailabilityZone": sub["AvailabilityZone"],
                             "AvailabilityZoneId": sub["AvailabilityZoneId"]}, \
        f"{p['CidrBlock']} in {sub['AvailabilityZone']} ({sub['AvailabilityZoneId']})"


def create_route_table(s, name, p):
    table = s.client("ec2").create_route_table(VpcId=p["VpcId"])["RouteTable"]
    routes = [r.get("DestinationCidrBlock") for r in table["Routes"]]
    return table["RouteTableId"], {}, f"routes {routes} (local only)"


def create_association(s, name, p):
    assoc = s.client("ec2").associate_route_table(RouteTableId=p["RouteTableId"],
                                                  SubnetId=p["SubnetId"])["AssociationId"]
    return assoc, {"RouteTableId": p["RouteTableId"]}, f"{p['SubnetId']} → {p['RouteTableId']}"


def _permission(rule: dict) -> dict:
    perm = {"IpProtocol": rule["IpProtocol"], "FromPort": int(rule["FromPort"]),
            "ToPort": int(rule["ToPort"])}
    text = rule.get("Description", "")
    if "CidrIp" in rule:
        perm["IpRanges"] = [{"CidrIp": rule["CidrIp"], "Description": text}]
    else:
        perm["UserIdGroupPairs"] = [{"GroupId": rule["SourceSecurityGroupId"], "Description": text}]
    return perm


def _rule_text(rule: dict) -> str:
    peer = rule.get("CidrIp") or rule.get("SourceSecurityGroupId")
    return f"{rule['IpProtocol']} {rule['FromPort']}-{rule['ToPort']} {peer}"


def create_security_group(s, name, p):
    ec2 = s.client("ec2")
    group = ec2.create_security_group(GroupName=name, Description=p["GroupDescription"],
                                      VpcId=p["VpcId"])["GroupId"]
    ingress, egress = p.get("SecurityGroupIngress", []), p.get("SecurityGroupEgress")
    if ingress:
        ec2.authorize_security_group_ingress(GroupId=group,
                                             IpPermissions=[_permission(r) for r in ingress])
    if egress is not None:  # a stated egress list replaces AWS's allow-all rule
        ec2.revoke_security_group_egress(GroupId=group, IpPermissions=[
            {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
        ec2.authorize_security_group_egress(GroupId=group,
                                            IpPermissions=[_permission(r) for r in egress])
    summary = (f"ingress [{', '.join(map(_rule_text, ingress)) or 'none'}], "
               f"egress [{', '.join(map(_rule_text, egress or []))}]")
    return group, {"GroupId": group, "VpcId": p["VpcId"]}, summary


def create_vpc_endpoint(s, name, p):
    endpoint = s.client("ec2").create_vpc_endpoint(
        VpcEndpointType=p["VpcEndpointType"], VpcId=p["VpcId"], ServiceName=p["ServiceName"],
        SubnetIds=p["SubnetIds"], SecurityGroupIds=p["SecurityGroupIds"],
        PrivateDnsEnabled=flag(p.get("PrivateDnsEnabled", False)))["VpcEndpoint"]
    entries = [f"{e['HostedZoneId']}:{e['DnsName']}" for e in endpoint.get("DnsEntries", [])]
    dns = "on" if endpoint.get("PrivateDnsEnabled") else "off"
    summary = f"{p['ServiceName']}: {endpoint['State']}, private DNS {dns}"
    return endpoint["VpcEndpointId"], {"Id": endpoint["VpcEndpointId"], "DnsEntries": entries}, \
        f"{summary}, in {len(p['SubnetIds'])} subnets"


def delete_vpc_endpoint(s, ref, atts):
    s.client("ec2").delete_vpc_endpoints(VpcEndpointIds=[ref])
    wait_for_endpoint_state(s, ref, "deleted")


def endpoint_exists(s, ref, atts):
    got = s.client("ec2").describe_vpc_endpoints(
        Filters=[{"Name": "vpc-endpoint-id", "Values": [ref]}])["VpcEndpoints"]
    return any(e["State"] != "deleted" for e in got)


# ---------------------------------------------------------------- endpoint services, RAM


def create_endpoint_service(s, name, p):
    tags = [{"ResourceType": "vpc-endpoint-service", "Tags": p["Tags"]}] if p.get("Tags") else []
    service = s.client("ec2").create_vpc_endpoint_service_configuration(
        NetworkLoadBalancerArns=p["NetworkLoadBalancerArns"],
        AcceptanceRequired=flag(p.get("AcceptanceRequired", True)),
        TagSpecifications=tags)["ServiceConfiguration"]
    accept = "acceptance required" if service["AcceptanceRequired"] else "accepted automatically"
    return service["ServiceId"], {"ServiceId": service["ServiceId"]}, \
        f"{service['ServiceName']}, {accept}, in {', '.join(service['AvailabilityZones'])}"


def delete_endpoint_service(s, ref, atts):
    out = s.client("ec2").delete_vpc_endpoint_service_configurations(ServiceIds=[ref])
    expect(not out.get("Unsuccessful"), f"DeleteVpcEndpointServiceConfigurations {ref}: "
                                        f"{out.get('Unsuccessful')}")


def create_permissions(s, name, p):
    s.client("ec2").modify_vpc_endpoint_service_permissions(
        ServiceId=p["ServiceId"], AddAllowedPrincipals=p["AllowedPrincipals"])
    return f"{p['ServiceId']}-permissions", dict(p), \
        f"{p['ServiceId']} allows {p['AllowedPrincipals']}"


def permissions_exist(s, ref, atts):
    got = s.client("ec2").describe_vpc_endpoint_service_permissions(
        ServiceId=atts["ServiceId"])["AllowedPrincipals"]
    return bool({a["Principal"] for a in got} & set(atts["AllowedPrincipals"]))


def create_share(s, name, p):
    share = s.client("ram").create_resource_share(
        name=p["Name"], resourceArns=p["ResourceArns"], principals=p["Principals"],
        allowExternalPrincipals=flag(p.get("AllowExternalPrincipals", True)))["resourceShare"]
    return share["resourceShareArn"], {"Arn": share["resourceShareArn"]}, \
        f"{p['Name']}: {p['ResourceArns']} shared with {p['Principals']}"


def share_exists(s, ref, atts):
    shares = s.client("ram").get_resource_shares(resourceOwner="SELF",
                                                 resourceShareArns=[ref])["resourceShares"]
    return any(sh["resourceShareArn"] == ref and sh["status"] not in ("DELETED", "DELETING")
               for sh in shares)


# ---------------------------------------------------------------- load balancers


def create_load_balancer(s, name, p):
    elbv2 = s.client("elbv2")
    extra = {"SecurityGroups": p["SecurityGroups"]} if p.get("SecurityGroups") else {}
    lb = elbv2.create_load_balancer(Name=name, Type=p["Type"], Scheme=p["Scheme"],
                                    Subnets=p["Subnets"], **extra)["LoadBalancers"][0]
    if p.get("LoadBalancerAttributes"):
        elbv2.modify_load_balancer_attributes(LoadBalancerArn=lb["LoadBalancerArn"],
                                              Attributes=p["LoadBalancerAttributes"])
    zones = ", ".join(z["ZoneName"] for z in lb["AvailabilityZones"])
    return lb["LoadBalancerArn"], {"DNSName": lb["DNSName"], "LoadBalancerName": name}, \
        f"{p['Type']}, {p['Scheme']}, in {zones}"


def create_target_group(s, name, p):
    elbv2 = s.client("elbv2")
    group = elbv2.create_target_group(Name=name, Protocol=p["Protocol"], Port=int(p["Port"]),
                                      VpcId=p["VpcId"], TargetType=p["TargetType"])
    arn = group["TargetGroups"][0]["TargetGroupArn"]
    targets = [{"Id": t["Id"], "Port": int(t["Port"])} for t in p.get("Targets", [])]
    if targets:
        elbv2.register_targets(TargetGroupArn=arn, Targets=targets)
    shown = ", ".join(f"{t['Id'].rsplit('/', 2)[-2] if '/' in t['Id'] else t['Id']}:{t['Port']}"
                      for t in targets)
    return arn, {"TargetGroupArn": arn}, \
        f"{p['TargetType']} targets, {p['Protocol']} {p['Port']} → {shown}"


def _action(a: dict) -> dict:
    keys = {"forward": "TargetGroupArn", "fixed-response": "FixedResponseConfig"}
    expect(a["Type"] in keys, f"listener action {a['Type']} is not one the demo builds")
    return {"Type": a["Type"], keys[a["Type"]]: a[keys[a["Type"]]]}


def create_listener(s, name, p):
    extra = {k: p[k] for k in ("Certificates", "SslPolicy") if k in p}
    listener = s.client("elbv2").create_listener(
        LoadBalancerArn=p["LoadBalancerArn"], Protocol=p["Protocol"], Port=int(p["Port"]),
        DefaultActions=[_action(a) for a in p["DefaultActions"]], **extra)["Listeners"][0]
    action = p["DefaultActions"][0]
    fixed = action.get("FixedResponseConfig")
    then = (f"fixed response {fixed['StatusCode']} \"{fixed['MessageBody']}\"" if fixed
            else f"forward to …{action['TargetGroupArn'][-24:]}")
    certs = "".join(f", certificate …{c['CertificateArn'][-12:]}"
                    for c in p.get("Certificates", []))
    return listener["ListenerArn"], {"ListenerArn": listener["ListenerArn"]}, \
        f"{p['Protocol']} {p['Port']} → {then}{certs}"


def _by_id(service: str, call: str, key: str, list_key: str):
    """delete and exists of an EC2 or ELBv2 resource by its ID or ARN."""
    def delete(s, ref, atts):
        getattr(s.client(service), f"delete_{call}")(**{key: ref})

    def exists(s, ref, atts):
        return found(lambda: getattr(s.client(service), f"describe_{call}s")(
            **{f"{key}s": [ref]})[list_key])
    return delete, exists


def _disassociate(s, ref, atts):
    s.client("ec2").disassociate_route_table(AssociationId=ref)


def _associated(s, ref, atts):
    return found(lambda: [a for t in s.client("ec2").describe_route_tables(
        RouteTableIds=[atts["RouteTableId"]])["RouteTables"] for a in t.get("Associations", [])
        if a.get("RouteTableAssociationId") == ref])


def _handler(create, delete_exists, *known) -> Handler:
    return Handler(create, delete_exists[0], delete_exists[1], frozenset(known))


HANDLERS = {
    "AWS::EC2::VPC": _handler(
        create_vpc, _by_id("ec2", "vpc", "VpcId", "Vpcs"),
        "CidrBlock", "EnableDnsSupport", "EnableDnsHostnames"),
    "AWS::EC2::Subnet": _handler(
        create_subnet, _by_id("ec2", "subnet", "SubnetId", "Subnets"),
        "VpcId", "CidrBlock", "AvailabilityZone", "AvailabilityZoneId", "MapPublicIpOnLaunch"),
    "AWS::EC2::RouteTable": _handler(
        create_route_table, _by_id("ec2", "route_table", "RouteTableId", "RouteTables"), "VpcId"),
    "AWS::EC2::SubnetRouteTableAssociation": _handler(
        create_association, (_disassociate, _associated), "SubnetId", "RouteTableId"),
    "AWS::EC2::SecurityGroup": _handler(
        create_security_group, _by_id("ec2", "security_group", "GroupId", "SecurityGroups"),
        "GroupDescription", "VpcId", "SecurityGroupIngress", "SecurityGroupEgress"),
    "AWS::EC2::VPCEndpoint": _handler(
        create_vpc_endpoint, (delete_vpc_endpoint, endpoint_exists), "VpcEndpointType", "VpcId",
        "ServiceName", "SubnetIds", "SecurityGroupIds", "PrivateDnsEnabled"),
    "AWS::EC2::VPCEndpointService": _handler(
        create_endpoint_service,
        (delete_endpoint_service, lambda s, ref, atts: found(
            lambda: s.client("ec2").describe_vpc_endpoint_service_configurations(
                ServiceIds=[ref])["ServiceConfigurations"])),
        "NetworkLoadBalancerArns", "AcceptanceRequired", "Tags"),
    "AWS::EC2::VPCEndpointServicePermissions": _handler(
        create_permissions,
        (lambda s, ref, atts: s.client("ec2").modify_vpc_endpoint_service_permissions(
            ServiceId=atts["ServiceId"], RemoveAllowedPrincipals=atts["AllowedPrincipals"]),
         permissions_exist),
        "ServiceId", "AllowedPrincipals"),
    "AWS::RAM::ResourceShare": _handler(
        create_share,
        (lambda s, ref, atts: s.client("ram").delete_resource_share(resourceShareArn=ref),
         share_exists),
        "Name", "ResourceArns", "Principals", "AllowExternalPrincipals"),
    "AWS::ElasticLoadBalancingV2::LoadBalancer": _handler(
        create_load_balancer, _by_id("elbv2", "load_balancer", "LoadBalancerArn", "LoadBalancers"),
        "Type", "Scheme", "Subnets", "SecurityGroups", "LoadBalancerAttributes"),
    "AWS::ElasticLoadBalancingV2::TargetGroup": _handler(
        create_target_group, _by_id("elbv2", "target_group", "TargetGroupArn", "TargetGroups"),
        "Protocol", "Port", "VpcId", "TargetType", "Targets"),
    "AWS::ElasticLoadBalancingV2::Listener": _handler(
        create_listener, _by_id("elbv2", "listener", "ListenerArn", "Listeners"),
        "LoadBalancerArn", "Protocol", "Port", "DefaultActions", "Certificates", "SslPolicy"),
}
