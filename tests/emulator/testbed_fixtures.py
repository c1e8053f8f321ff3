"""Fixtures for tests against the emulator (tests/emulator/server.py) as a real process.

- `emulator_url` (session): base URL of an emulator started once per test session, on a
  free 127.0.0.1 port, stopped at the end. Set AUTOWIRE_EMULATOR_URL to use one that is
  already running instead.
- `account` (session): `account("111111111111")` -> a boto3 Session whose credentials come
  from the emulator's STS AssumeRole into arn:aws:iam::<acct>:role/autowire-test, and whose
  clients talk to the emulator (region us-east-1).
- `provider_network` (session): `provider_network(session, az_ids=[...], ...)` builds a
  provider's VPC, one subnet per AZ ID, an internal NLB with listeners (TLS ones get an
  imported certificate for `tls_domain`), and a VPC endpoint service on it; returns a
  `ProviderNetwork`. Also importable as `build_provider_network`.
- `public_zone` (session): `public_zone(session, domain)` creates a public Route 53 hosted
  zone and returns its ID (`build_public_zone`); `upsert_record(session, zone_id, name,
  rtype, values, ttl=300)` writes a record set into it.
  `set_zone_delegated(session, zone_id, False)` makes a public zone invisible to public DNS
  (tag `autowire-emulator:delegated=false`).
- `private_zone` (session): `private_zone(session, domain, vpc_id)` creates a private Route 53
  hosted zone associated with the VPC and returns its ID (`build_private_zone`).
- `wait_for_endpoint_state(session, endpoint_id, state="deleted")` polls DescribeVpcEndpoints
  until the endpoint reaches `state` (deletion takes AUTOWIRE_EMULATOR_ENDPOINT_DELETE_DELAY_S).
- `imported_certificate` (session): `imported_certificate(session, domain)` imports a new
  self-signed certificate for `domain` into ACM (ISSUED) and returns its ARN
  (`build_imported_certificate`).
- `start_emulator(env=None)`: starts an extra emulator process (e.g. with other settings);
  returns (url, process).

In CI (CI=true) a missing tool fails the run; elsewhere the tests are skipped.
"""

from __future__ import annotations

import datetime
import itertools
import json
import os
import selectors
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"

if not IN_CI:
    # Locally a missing tool skips these tests; in CI the imports below fail the run.
    pytest.importorskip("boto3")
    pytest.importorskip("moto")

import boto3  # noqa: E402
import moto  # noqa: E402,F401

REGION = "us-east-1"
SERVER = Path(__file__).with_name("server.py")
STARTUP_TIMEOUT_S = 60


def start_emulator(env: dict[str, str] | None = None) -> tuple[str, subprocess.Popen]:
    """Starts server.py on a free port; returns its URL once it answers /_autowire/health."""
    proc_env = dict(os.environ)
    proc_env.update(env or {})
    proc = subprocess.Popen(
        [sys.executable, str(SERVER), "--host", "127.0.0.1", "--port", "0", "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=proc_env,
        text=True,
    )
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    line = ""
    while time.monotonic() < deadline and not line:
        if proc.poll() is not None:
            raise RuntimeError(f"emulator exited early:\n{proc.stderr.read()}")
        if selector.select(timeout=0.2):
            line = proc.stdout.readline().strip()
    selector.close()
    prefix = "emulator listening on "
    if not line.startswith(prefix):
        proc.kill()
        raise RuntimeError(f"emulator did not start (first line: {line!r})")
    url = line[len(prefix) :]
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_autowire/health", timeout=2) as r:
                if r.status == 200:
                    return url, proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("emulator never became healthy")


def stop_emulator(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="session")
def emulator_url():
    existing = os.environ.get("AUTOWIRE_EMULATOR_URL")
    if existing:
        yield existing.rstrip("/")
        return
    url, proc = start_emulator()
    try:
        yield url
    finally:
        stop_emulator(proc)


class EmulatorSession(boto3.Session):
    """A boto3 Session whose clients and resources talk to the emulator."""

    def __init__(self, endpoint_url: str, account_id: str, **kwargs):
        super().__init__(**kwargs)
        self.endpoint_url = endpoint_url
        self.account_id = account_id
        self._clients: dict[str, object] = {}

    def client(self, service_name, *args, **kwargs):
        """Clients are cached per service when made without extra arguments (making one is slow)."""
        if args or kwargs:
            kwargs.setdefault("endpoint_url", self.endpoint_url)
            return super().client(service_name, *args, **kwargs)
        if service_name not in self._clients:
            self._clients[service_name] = super().client(
                service_name, endpoint_url=self.endpoint_url
            )
        return self._clients[service_name]

    def resource(self, service_name, *args, **kwargs):
        kwargs.setdefault("endpoint_url", self.endpoint_url)
        return super().resource(service_name, *args, **kwargs)


def assume_account(emulator_url: str, account_id: str, region: str = REGION) -> EmulatorSession:
    sts = boto3.client(
        "sts",
        region_name=region,
        endpoint_url=emulator_url,
        aws_access_key_id="bootstrap",
        aws_secret_access_key="bootstrap",
    )
    creds = sts.assume_role(
        RoleArn=f"arn:aws:iam::{account_id}:role/autowire-test",
        RoleSessionName="autowire-test",
    )["Credentials"]
    return EmulatorSession(
        emulator_url,
        account_id,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=region,
    )


def function_env(session: EmulatorSession, endpoint_url: str) -> dict[str, str]:
    """Environment for a Lambda binary acting as ``session``'s account against ``endpoint_url``
    (the emulator or the fault proxy), answering to the loopback capture server."""
    creds = session.get_credentials().get_frozen_credentials()
    return {
        "AWS_ACCESS_KEY_ID": creds.access_key,
        "AWS_SECRET_ACCESS_KEY": creds.secret_key,
        "AWS_SESSION_TOKEN": creds.token,
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_REGION": session.region_name,
        "AUTOWIRE_INSECURE_RESPONSE_URL_PREFIX": "http://127.0.0.1:",
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
        "RUST_LOG": "info",
    }


@pytest.fixture(scope="session")
def account(emulator_url):
    sessions: dict[str, EmulatorSession] = {}

    def get(account_id: str) -> EmulatorSession:
        if account_id not in sessions:
            sessions[account_id] = assume_account(emulator_url, account_id)
        return sessions[account_id]

    return get


# ---------------------------------------------------------------- provider network

_cidr_counter = itertools.count(1)


@dataclass
class ProviderNetwork:
    vpc_id: str
    subnet_ids: dict[str, str]  # AZ ID -> subnet ID
    nlb_arn: str
    listener_arns: list[str]
    service_id: str
    service_name: str
    extra: dict = field(default_factory=dict)


def subnet_for_az_id(ec2, vpc_id: str, az_id: str, cidr: str) -> str:
    return ec2.create_subnet(VpcId=vpc_id, CidrBlock=cidr, AvailabilityZoneId=az_id)["Subnet"][
        "SubnetId"
    ]


_zone_counter = itertools.count(1)


def build_public_zone(session: EmulatorSession, domain: str) -> str:
    """A public Route 53 hosted zone for `domain` in the session's account; returns its ID."""
    zone = session.client("route53").create_hosted_zone(
        Name=domain, CallerReference=f"autowire-{next(_zone_counter)}-{time.time()}"
    )
    return zone["HostedZone"]["Id"]


DELEGATION_TAG = "autowire-emulator:delegated"


def set_zone_delegated(session: EmulatorSession, zone_id: str, delegated: bool) -> None:
    """Model the parent domain's delegation of a public zone (the test bed has no parent
    domains): an undelegated zone's records are invisible to public DNS, so neither private
    DNS verification nor ACM validation sees them. Tags the zone through the ordinary
    ChangeTagsForResource; a zone without the tag is delegated."""
    session.client("route53").change_tags_for_resource(
        ResourceType="hostedzone",
        ResourceId=zone_id.rsplit("/", 1)[-1],
        AddTags=[{"Key": DELEGATION_TAG, "Value": "true" if delegated else "false"}],
    )


def upsert_record(
    session: EmulatorSession,
    zone_id: str,
    name: str,
    rtype: str,
    values: list[str],
    ttl: int = 300,
) -> None:
    """UPSERT one simple record set (values as Route 53 takes them, e.g. TXT with quotes)."""
    session.client("route53").change_resource_record_sets(
        HostedZoneId=zone_id,
        ChangeBatch={
            "Changes": [
                {
                    "Action": "UPSERT",
                    "ResourceRecordSet": {
                        "Name": name,
                        "Type": rtype,
                        "TTL": ttl,
                        "ResourceRecords": [{"Value": v} for v in values],
                    },
                }
            ]
        },
    )


_self_signed: dict[str, tuple[bytes, bytes]] = {}


def self_signed_certificate(domain: str) -> tuple[bytes, bytes]:
    """(certificate PEM, private key PEM) of a self-signed certificate for `domain` (made once
    per domain; ImportCertificate may import the same pair any number of times)."""
    if domain not in _self_signed:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, domain)])
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=365))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(domain)]), critical=False)
            .sign(key, hashes.SHA256())
        )
        _self_signed[domain] = (
            cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            ),
        )
    return _self_signed[domain]


def build_imported_certificate(session: EmulatorSession, domain: str) -> str:
    """A new ACM certificate (Type IMPORTED, so ISSUED) for `domain`: a self-signed one
    imported with ImportCertificate. Returns its ARN."""
    certificate, private_key = self_signed_certificate(domain)
    return session.client("acm").import_certificate(
        Certificate=certificate, PrivateKey=private_key
    )["CertificateArn"]


_certificates: dict[tuple[str, str, str], str] = {}


def _certificate(session: EmulatorSession, domain: str) -> str:
    """One imported ACM certificate per account and domain, shared by the TLS listeners of
    build_provider_network (a listener needs an ISSUED certificate)."""
    key = (session.endpoint_url, session.account_id, domain)
    if key not in _certificates:
        _certificates[key] = build_imported_certificate(session, domain)
    return _certificates[key]


def build_provider_network(
    session: EmulatorSession,
    az_ids: list[str],
    listeners: list[tuple[str, int]] = (("TCP", 80), ("TLS", 443)),
    acceptance_required: bool = False,
    allowed_accounts: list[str] = (),
    private_dns_name: str | None = None,
    tls_domain: str = "service.example.com",
) -> ProviderNetwork:
    """VPC, one subnet per AZ ID, an internal NLB with listeners, and an endpoint service."""
    ec2 = session.client("ec2")
    elbv2 = session.client("elbv2")
    n = next(_cidr_counter) % 250
    vpc_id = ec2.create_vpc(CidrBlock=f"10.{n}.0.0/16")["Vpc"]["VpcId"]
    subnets = {
        az_id: subnet_for_az_id(ec2, vpc_id, az_id, f"10.{n}.{i}.0/24")
        for i, az_id in enumerate(az_ids)
    }
    nlb_arn = elbv2.create_load_balancer(
        Name=f"autowire-nlb-{n}-{int(time.time() * 1000) % 100000}",
        Type="network",
        Scheme="internal",
        Subnets=list(subnets.values()),
    )["LoadBalancers"][0]["LoadBalancerArn"]
    target_group = elbv2.create_target_group(
        Name=f"autowire-tg-{n}-{int(time.time() * 1000) % 100000}",
        Protocol="TCP",
        Port=8080,
        VpcId=vpc_id,
        TargetType="ip",
    )["TargetGroups"][0]["TargetGroupArn"]
    listener_arns = []
    for protocol, port in listeners:
        kwargs = {}
        if protocol == "TLS":
            cert = _certificate(session, tls_domain)
            kwargs["Certificates"] = [{"CertificateArn": cert}]
            kwargs["SslPolicy"] = "ELBSecurityPolicy-TLS13-1-2-2021-06"
        listener_arns.append(
            elbv2.create_listener(
                LoadBalancerArn=nlb_arn,
                Protocol=protocol,
                Port=port,
                DefaultActions=[{"Type": "forward", "TargetGroupArn": target_group}],
                **kwargs,
            )["Listeners"][0]["ListenerArn"]
        )
    create = {
        "NetworkLoadBalancerArns": [nlb_arn],
        "AcceptanceRequired": acceptance_required,
    }
    if private_dns_name:
        create["PrivateDnsName"] = private_dns_name
    service = ec2.create_vpc_endpoint_service_configuration(**create)["ServiceConfiguration"]
    if allowed_accounts:
        ec2.modify_vpc_endpoint_service_permissions(
            ServiceId=service["ServiceId"],
            AddAllowedPrincipals=[f"arn:aws:iam::{a}:root" for a in allowed_accounts],
        )
    return ProviderNetwork(
        vpc_id=vpc_id,
        subnet_ids=subnets,
        nlb_arn=nlb_arn,
        listener_arns=listener_arns,
        service_id=service["ServiceId"],
        service_name=service["ServiceName"],
    )


@pytest.fixture(scope="session")
def provider_network():
    return build_provider_network


@pytest.fixture(scope="session")
def public_zone():
    """`public_zone(session, domain) -> zone_id` (build_public_zone)."""
    return build_public_zone


@pytest.fixture(scope="session")
def imported_certificate():
    """`imported_certificate(session, domain) -> certificate ARN` (build_imported_certificate)."""
    return build_imported_certificate


def build_consumer_vpc(session: EmulatorSession, az_ids: list[str], dns: bool = True):
    """A consumer VPC with one subnet per AZ ID; returns (vpc_id, {az_id: subnet_id})."""
    ec2 = session.client("ec2")
    n = next(_cidr_counter) % 250
    vpc_id = ec2.create_vpc(CidrBlock=f"10.{n}.0.0/16")["Vpc"]["VpcId"]
    if dns:
        ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": True})
    subnets = {
        az_id: subnet_for_az_id(ec2, vpc_id, az_id, f"10.{n}.{i}.0/24")
        for i, az_id in enumerate(az_ids)
    }
    return vpc_id, subnets


@pytest.fixture(scope="session")
def consumer_vpc():
    return build_consumer_vpc


def build_private_zone(
    session: EmulatorSession, domain: str, vpc_id: str, region: str = REGION
) -> str:
    """A private Route 53 hosted zone for `domain` associated with `vpc_id` (in `region`) in the
    session's account; returns its ID (as CreateHostedZone gives it, `/hostedzone/Z...`)."""
    zone = session.client("route53").create_hosted_zone(
        Name=domain,
        CallerReference=f"autowire-private-{next(_zone_counter)}-{time.time()}",
        VPC={"VPCRegion": region, "VPCId": vpc_id},
    )
    return zone["HostedZone"]["Id"]


@pytest.fixture(scope="session")
def private_zone():
    """`private_zone(session, domain, vpc_id) -> zone_id` (build_private_zone)."""
    return build_private_zone


def wait_for_endpoint_state(
    session: EmulatorSession, endpoint_id: str, state: str = "deleted", timeout_s: float = 15.0
) -> dict:
    """Polls DescribeVpcEndpoints until the endpoint is in `state`; returns it. Fails the test
    when it does not get there within `timeout_s`."""
    ec2 = session.client("ec2")
    deadline = time.monotonic() + timeout_s
    while True:
        endpoint = ec2.describe_vpc_endpoints(VpcEndpointIds=[endpoint_id])["VpcEndpoints"][0]
        if endpoint["State"] == state:
            return endpoint
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"{endpoint_id} is {endpoint['State']!r}, not {state!r}, after {timeout_s} s"
            )
        time.sleep(0.1)


def health(url: str) -> dict:
    with urllib.request.urlopen(f"{url}/_autowire/health", timeout=5) as r:
        return json.loads(r.read())


# ---------------------------------------------------------------- the accounts the tests use

PROVIDER = "111111111111"  # us-east-1 zone names rotated by 3
CONSUMER = "222222222222"  # rotated by 0: same IDs, other names than PROVIDER
OUTSIDER = "333333333333"  # never given permissions


@pytest.fixture(scope="session")
def provider(account):
    return account(PROVIDER)


@pytest.fixture(scope="session")
def consumer(account):
    return account(CONSUMER)


@pytest.fixture(scope="session")
def outsider(account):
    return account(OUTSIDER)


def aws_error(excinfo) -> tuple[str, str]:
    """(code, message) of a botocore ClientError caught by pytest.raises."""
    error = excinfo.value.response["Error"]
    return error["Code"], error["Message"]


# ---------------------------------------------------------------- Lambda harness helpers


@pytest.fixture(scope="module")
def cargo_lambda():
    """cargo-lambda from the venv (or PATH); its absence fails in CI and skips elsewhere."""
    from testbed_util import find_tool, skip_or_fail

    path = find_tool("cargo-lambda")
    if path is None:
        skip_or_fail("cargo-lambda not installed (run `make venv`)")
    return path


def python_bootstrap(tmp_path_factory, name: str, source: str) -> Path:
    """A `bootstrap` that runs `source` (a template formatted with `python=`) as a Lambda."""
    p = tmp_path_factory.mktemp(name) / "bootstrap"
    p.write_text(source.format(python=sys.executable))
    p.chmod(0o755)
    return p
