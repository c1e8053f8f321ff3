"""The Terraform write-up (../shared/seeds/000_*) in `make demo-seeds`: examples/terraform-writeup/
deployed on the emulator, provider in account A, consumer in account B.

A has the write-up's existing network (its data sources): a VPC with subnets in two AZ IDs, a
target, and a public zone for the certificate. provider.yaml adds the NLB (TCP 80, TLS 443),
the certificate for the name consumers use, the endpoint service and the publication;
consumer.yaml makes the non-routable VPC, the STS endpoint, the write-up's groups and the link.
The probe then checks HTTPS (with the certificate's name) and HTTP through the alias, against
loopback stand-ins for the NLB's listeners. Troubleshooting (a): the write-up's certificate
error, as a link whose alias the certificate does not cover, refused before anything exists.
"""

from __future__ import annotations

from demo import listener_certificates, probe_event
from demo_output import expect, note, say
from seeds_common import A, B, SeedRun, expect_all_ok, link_rules, read_descriptor, refused, \
    run_probe, show_link
from testbed_fixtures import build_public_zone, subnet_for_az_id

EXAMPLE = "terraform-writeup"
PROVIDER_AZ_IDS = ["use1-az1", "use1-az4"]
PROVIDER_CIDR = "10.40.0.0/16"
TARGET_IP = "10.40.0.10"
TARGET_BODY = b"hello from the target\n"


class Terraform(SeedRun):
    def existing_network(self) -> dict:
        """The write-up's data sources in A: the provider's VPC and target subnets, the target,
        the hosted zone. Returns provider.yaml's parameters."""
        a = self.seeds.a
        ec2 = a.client("ec2")
        say(f"Terraform write-up: account A ({A}) has the write-up's existing infrastructure")
        vpc = ec2.create_vpc(CidrBlock=PROVIDER_CIDR)["Vpc"]["VpcId"]
        subnets = [subnet_for_az_id(ec2, vpc, az, f"10.40.{i}.0/24")
                   for i, az in enumerate(PROVIDER_AZ_IDS)]
        self.zone = build_public_zone(a, "link.example.com").rsplit("/", 1)[-1]
        self.existing = (vpc, subnets)
        note(f"VPC {vpc} {PROVIDER_CIDR}, subnets {subnets} in {PROVIDER_AZ_IDS}, target "
             f"{TARGET_IP}, public zone link.example.com {self.zone}")
        return {"ConsumerAccountId": B, "VpcId": vpc, "SubnetIds": subnets, "TargetType": "ip",
                "TargetId": TARGET_IP, "HostedZoneId": self.zone}

    def deploy(self) -> None:
        self.provider = self.seeds.stack(EXAMPLE, "provider", self.existing_network())
        out = self.provider.deploy()
        self.check_provider(out)
        self.consumer = self.seeds.stack(EXAMPLE, "consumer", {
            "ProviderAccountId": A, "ServiceParameterArn": out["DescriptorArn"]})
        self.consumer.deploy()
        self.check_consumer()

    def remove_existing_network(self) -> None:
        """After the stacks: the write-up's existing infrastructure goes too; the zone holds
        nothing but its SOA and NS (the certificate's Delete took its validation record)."""
        a = self.seeds.a
        vpc, subnets = self.existing
        for subnet in subnets:
            a.client("ec2").delete_subnet(SubnetId=subnet)
        a.client("ec2").delete_vpc(VpcId=vpc)
        a.client("route53").delete_hosted_zone(Id=self.zone)
        note(f"A's existing VPC {vpc}, its subnets and the zone {self.zone}: deleted")

    def check_provider(self, out: dict) -> None:
        a, p = self.seeds.a, self.provider
        tls_name = p.params["TlsName"]
        say("the provider's HTTPS: the certificate for the name consumers use, on the TLS "
            "listener (the write-up's fix)")
        [cert] = listener_certificates(a, p.refs["HttpsListener"])
        detail = a.client("acm").describe_certificate(
            CertificateArn=cert["CertificateArn"])["Certificate"]
        note(f"TLS 443 default certificate …{cert['CertificateArn'][-12:]}: {detail['Status']}, "
             f"{detail['SubjectAlternativeNames']}, {detail['Type']}")
        expect(cert["CertificateArn"] == out["CertificateArn"] and detail["Status"] == "ISSUED"
               and detail["SubjectAlternativeNames"] == [tls_name],
               f"the TLS listener serves {cert}, {detail['Status']}")
        say("the descriptor replaces the write-up's outputs (service name, matchkeys AZ IDs)")
        self.descriptor = d = read_descriptor(self.seeds.b, out["DescriptorArn"])
        expect(d["ports"] == [{"port": 80, "protocol": "TCP"}, {"port": 443, "protocol": "TLS"}],
               f"ports {d['ports']}")
        expect(d["az_ids"] == sorted(PROVIDER_AZ_IDS) and d["tls_names"] == [tls_name]
               and d["acceptance"] == "auto", f"descriptor {d}")

    def check_consumer(self) -> None:
        c = self.consumer
        data = show_link(c, "Link", self.descriptor)
        cidr = c.atts["Vpc"]["CidrBlock"]
        rules = link_rules(c, "Link")
        expect(sorted(rules) == [("tcp", 80, 80, cidr), ("tcp", 443, 443, cidr)],
               f"the link's group admits {rules}, not 80 and 443 from {cidr}")
        sts = c.session.client("ec2").describe_vpc_endpoints(
            VpcEndpointIds=[c.refs["StsEndpoint"]])["VpcEndpoints"][0]
        note(f"STS endpoint {sts['VpcEndpointId']}: private DNS "
             f"{'on' if sts['PrivateDnsEnabled'] else 'off'}, in {len(sts['SubnetIds'])} subnets")
        expect(sts["PrivateDnsEnabled"], "the STS endpoint has private DNS off")
        expect(data["AliasName"] == c.params["AliasName"], f"alias {data['AliasName']}")

    def probe(self) -> dict:
        """HTTPS and HTTP through the alias, and HTTPS through the endpoint's own name (with the
        alias as TLS name), against loopback stand-ins for the NLB's TLS 443 and TCP 80."""
        tls_name = self.provider.params["TlsName"]
        alias, regional = self.consumer.params["AliasName"], self.consumer.atts["Link"]["DnsName"]
        pki = self.seeds.pki
        https = self.seeds.server(TARGET_BODY, pki.leaf([tls_name], label="terraform"))
        http = self.seeds.server(TARGET_BODY)
        say("Terraform write-up: the probe, through the alias, against loopback stand-ins")
        note(f"stand-in for TLS 443: 127.0.0.1:{https.port}, certificate for {tls_name} from the "
             f"demo CA; for TCP 80: 127.0.0.1:{http.port}; every name → 127.0.0.1, no DNS")
        tls = {"server_name": alias, "expect_names": [alias], "ca_bundle_pem": pki.ca_pem}
        check = {"path": "/", "expect_status": 200}
        targets = [
            {"name": "https alias", "host": alias, "port": https.port, "tls": tls, "http": check},
            {"name": "http alias", "host": alias, "port": http.port, "http": check},
            {"name": "https endpoint", "host": regional, "port": https.port, "tls": tls,
             "http": check}]
        for t in targets:
            t["service_key"] = self.descriptor["key"]
        report = run_probe(self.seeds, probe_event(targets), "Terraform write-up")
        expect_all_ok(report, [https, http])
        expect(https.sni == [alias, alias], f"the TLS stand-in saw SNI {https.sni}")
        return report

    def tls_mismatch(self) -> str:
        """(a) The write-up's HTTPS breakage: its clients' name did not match the certificate."""
        c = self.consumer
        other, tls_name = f"api.{c.params['AliasDomain']}", self.provider.params["TlsName"]
        say(f"(a) the Terraform write-up's certificate error: consumer.yaml deployed with "
            f"AliasName={other}, a name the provider's certificate ({tls_name}) does not cover")
        props = c.properties("Link", AliasName=other)
        return refused(c, "Link", props, "LinkWithOtherName", [other, tls_name, "RequireTlsMatch"])
