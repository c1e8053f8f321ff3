"""AWS Certificate Manager: DNS validation, CAA checks and certificates in use, as AWS does them.

AWS behaviour (ACM User Guide: "DNS validation", "CAA records", "Delete certificates"; ACM
API reference: RequestCertificate, DescribeCertificate, DeleteCertificate):

- RequestCertificate with `ValidationMethod=DNS`: DescribeCertificate lists one
  DomainValidationOptions entry per name (DomainName, then the SubjectAlternativeNames, in
  request order, without repeats), each with `ValidationMethod: DNS`, `ValidationStatus` and a
  `ResourceRecord` {Name, Type: CNAME, Value}. ACM reuses one validation record per domain in
  an account, and `*.example.com` is validated by the record of `example.com`: the record
  is `_<32 hex>.<domain without "*.">.` CNAME `_<32 hex>.<10 lowercase alnum>.acm-validations.aws.`,
  derived here from a hash of (account, domain), so it is the same for every certificate of
  that account that names the domain. `SubjectAlternativeNames` lists the DomainName first.
  Without `ValidationMethod` AWS validates by email; here such a certificate lists the five
  administrative addresses (`ValidationEmails`) and stays PENDING_VALIDATION (nobody answers
  mail in the test bed).
- PENDING_VALIDATION becomes ISSUED once every validation CNAME (exact name and value; case
  and final dot do not matter) exists in a *public*, delegated Route 53 hosted zone of any
  account (public DNS is one namespace; a zone tagged `autowire-emulator:delegated=false` is
  not reachable from it, see route53.py), `AUTOWIRE_EMULATOR_ACM_DELAY_S` seconds (default 0) after
  the records were all first seen, checked whenever the certificate is read (Describe, List,
  Get, and when ELBv2 is given it). Then `IssuedAt` is set and every name's
  `ValidationStatus` is SUCCESS. moto's `MOTO_ACM_VALIDATION_WAIT` no longer issues anything.
- CAA (RFC 8659, as ACM applies it): for each name, the relevant CAA record set is the one at
  the name (for `*.x`, at `x`) or, if there is none, at the nearest parent that has one,
  looked up inside the deepest public, delegated zone that holds the name. If that set has
  `issue` properties (for a wildcard name: `issuewild` ones when there are any) and none names
  amazon.com, amazontrust.com, awstrust.com or amazonaws.com, or it has a critical property
  ACM does not know, the certificate becomes FAILED with `FailureReason: CAA_ERROR` (that
  name's ValidationStatus FAILED) instead of ISSUED.
- `InUseBy` lists the ARNs of the load balancers (any account, same region) with a listener
  that uses the certificate, as default or in its certificate list. DeleteCertificate of such
  a certificate: `ResourceInUseException` (HTTP 400) /
  `Certificate <arn> in account <account> is in use.`. An unknown ARN stays moto's
  `ResourceNotFoundException` / `Certificate with arn <arn> not found in account <account>`.
- `IssuedAt` exists only once ACM issued the certificate (moto sets it at request time).
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from typing import Any

from moto.acm.models import AWSCertificateManagerBackend, CertBundle, datetime_to_epoch
from moto.acm.responses import AWSCertificateManagerResponse
from moto.core.exceptions import AWSError
from moto.core.utils import utcnow

from . import route53
from ._common import LOCK, LOWER_ALNUM, wrap
from .listener_certs import load_balancers_using

AMAZON_CAA_ISSUERS = ("amazon.com", "amazontrust.com", "awstrust.com", "amazonaws.com")
# CAA property tags ACM understands; a *critical* property with another tag forbids issuance.
_KNOWN_CAA_TAGS = ("issue", "issuewild", "iodef", "issuemail", "contactemail", "contactphone")
_EMAIL_MAILBOXES = ("admin", "administrator", "hostmaster", "postmaster", "webmaster")
_CAA_RE = re.compile(r'^\s*(\d+)\s+([A-Za-z0-9]+)\s+"?(.*?)"?\s*$')


class ResourceInUseException(AWSError):
    TYPE = "ResourceInUseException"


def delay_s() -> float:
    return float(os.environ.get("AUTOWIRE_EMULATOR_ACM_DELAY_S", "0") or 0)


def base_domain(name: str) -> str:
    name = route53.norm(name)
    return name[2:] if name.startswith("*.") else name


def validation_record(account_id: str, domain: str) -> tuple[str, str]:
    """(name, value) of the validation CNAME for `domain` in `account_id`: stable per pair."""
    base = base_domain(domain)
    seed = hashlib.sha256(f"autowire-acm|{account_id}|{base}".encode()).digest()
    more = hashlib.sha256(seed + b"|value").digest()
    label = "".join(LOWER_ALNUM[b % len(LOWER_ALNUM)] for b in more[16:26])
    return f"_{seed[:16].hex()}.{base}.", f"_{more[:16].hex()}.{label}.acm-validations.aws."


# ---------------------------------------------------------------- certificate state


def _state(bundle: Any) -> dict[str, Any]:
    return bundle.__dict__.setdefault(
        "autowire_acm",
        {
            "names": None,  # requested names, in order
            "method": "DNS",  # certificates made other than by RequestCertificate
            "seen_at": None,  # time.monotonic() when all records were first published
            "issued_at": None,
            "failed_names": [],
        },
    )


def domain_names(bundle: Any) -> list[str]:
    names = _state(bundle)["names"]
    if names:
        return list(names)
    return list(dict.fromkeys([bundle.common_name, *bundle.sans]))


def _account_of(bundle: Any) -> str:
    return bundle.arn.split(":")[4]


def _region_of(bundle: Any) -> str:
    return bundle.arn.split(":")[3]


def _published_cnames() -> set[tuple[str, str]]:
    return {
        (name, route53.norm(value))
        for name, values, _ in route53.public_records("CNAME")
        for value in values
    }


def _records_published(bundle: Any) -> bool:
    published = _published_cnames()
    account = _account_of(bundle)
    for domain in domain_names(bundle):
        name, value = validation_record(account, domain)
        if (route53.norm(name), route53.norm(value)) not in published:
            return False
    return True


def refresh(bundle: Any) -> None:
    """Settles a DNS-validated certificate's request as far as the published DNS allows."""
    with LOCK:
        state = _state(bundle)
        if (
            bundle.type != "AMAZON_ISSUED"
            or bundle.status != "PENDING_VALIDATION"
            or state["method"] != "DNS"
        ):
            return
        if not _records_published(bundle):
            state["seen_at"] = None
            return
        now = time.monotonic()
        if state["seen_at"] is None:
            state["seen_at"] = now
        if now - state["seen_at"] < delay_s():
            return
        blocked = [n for n in domain_names(bundle) if not caa_permits(n)]
        if blocked:
            bundle.status = "FAILED"
            state["failed_names"] = blocked
        else:
            bundle.status = "ISSUED"
            state["issued_at"] = utcnow()


# ---------------------------------------------------------------- CAA


def _caa_properties(values: list[str]) -> list[tuple[int, str, str]]:
    props = []
    for value in values:
        m = _CAA_RE.match(value)
        if m:
            props.append((int(m.group(1)), m.group(2).lower(), m.group(3).strip()))
    return props


def relevant_caa(name: str) -> list[tuple[int, str, str]]:
    """The relevant CAA property set of `name` (RFC 8659 section 3), within its public zone."""
    base = base_domain(name)
    holders = [z for z in route53.resolvable_zones() if route53.in_zone(base, z.name)]
    if not holders:
        return []
    apex = max((route53.norm(z.name) for z in holders), key=len)
    zones = [z for z in holders if route53.norm(z.name) == apex]
    labels = base.split(".")
    for i in range(len(labels)):
        candidate = ".".join(labels[i:])
        values = [
            value
            for zone in zones
            for rrset in list(zone.rrsets)
            if route53.rrset_type(rrset) == "CAA" and route53.norm(rrset.name) == candidate
            for value in route53.record_values(rrset)
        ]
        if values:
            return _caa_properties(values)
        if candidate == apex:
            break
    return []


def caa_permits(name: str) -> bool:
    props = relevant_caa(name)
    if any(flags & 128 and tag not in _KNOWN_CAA_TAGS for flags, tag, _ in props):
        return False
    issue = [v for _, tag, v in props if tag == "issue"]
    if name.startswith("*."):
        wild = [v for _, tag, v in props if tag == "issuewild"]
        if wild:
            issue = wild
    if not issue:
        return True  # no issue property: CAA does not restrict issuance
    issuers = {v.split(";")[0].strip().lower().rstrip(".") for v in issue}
    return bool(issuers & set(AMAZON_CAA_ISSUERS))


# ---------------------------------------------------------------- moto patches


def _check(original):
    def check(self) -> None:
        if self.type == "AMAZON_ISSUED" and self.status == "PENDING_VALIDATION":
            # moto's check would issue after MOTO_ACM_VALIDATION_WAIT; only expiry is kept.
            if self._not_valid_after(self._cert) <= utcnow():
                self.status = "EXPIRED"
                return
            refresh(self)
            return
        original(self)

    return check


def _validation_options(bundle: Any) -> list[dict[str, Any]]:
    state = _state(bundle)
    account = _account_of(bundle)
    options = []
    for name in domain_names(bundle):
        if bundle.status == "ISSUED":
            status = "SUCCESS"
        elif bundle.status == "FAILED":
            status = "FAILED" if name in state["failed_names"] else "SUCCESS"
        else:
            status = "PENDING_VALIDATION"
        option: dict[str, Any] = {
            "DomainName": name,
            "ValidationDomain": name,
            "ValidationStatus": status,
            "ValidationMethod": state["method"],
        }
        if state["method"] == "DNS":
            record_name, record_value = validation_record(account, name)
            option["ResourceRecord"] = {
                "Name": record_name,
                "Type": "CNAME",
                "Value": record_value,
            }
        else:
            option["ValidationEmails"] = [f"{m}@{base_domain(name)}" for m in _EMAIL_MAILBOXES]
        options.append(option)
    return options


def _describe(original):
    def describe(self) -> dict[str, Any]:
        result = original(self)
        cert = result["Certificate"]
        cert["InUseBy"] = load_balancers_using(self.arn, _region_of(self))
        if self.type != "AMAZON_ISSUED":
            return result
        state = _state(self)
        names = domain_names(self)
        cert["DomainName"] = names[0]
        cert["SubjectAlternativeNames"] = names
        cert["DomainValidationOptions"] = _validation_options(self)
        cert.pop("IssuedAt", None)
        if state["issued_at"] is not None:
            cert["IssuedAt"] = datetime_to_epoch(state["issued_at"])
        if self.status == "FAILED" and state["failed_names"]:
            cert["FailureReason"] = "CAA_ERROR"
        return result

    return describe


def _request_certificate(original):
    def request_certificate(self):
        result = original(self)
        arn = result.result["CertificateArn"]
        bundle = self.acm_backend._certificates.get(arn)
        if bundle is not None and bundle.type == "AMAZON_ISSUED":
            with LOCK:
                state = _state(bundle)
                if state["names"] is None:  # not an idempotent repeat
                    requested = [self._get_param("DomainName")]
                    requested += self._get_param("SubjectAlternativeNames") or []
                    state["names"] = list(dict.fromkeys(n for n in requested if n))
                    state["method"] = str(self._get_param("ValidationMethod") or "EMAIL").upper()
        return result

    return request_certificate


def _delete_certificate(original):
    def delete_certificate(self, arn: str) -> None:
        # An unknown ARN falls through to moto's ResourceNotFoundException ("Certificate with
        # arn <arn> not found in account <account>"); AWS's exact text could not be confirmed.
        with LOCK:
            if arn in self._certificates and load_balancers_using(arn, self.region_name):
                raise ResourceInUseException(
                    f"Certificate {arn} in account {self.account_id} is in use."
                )
            return original(self, arn)

    return delete_certificate


def apply() -> str:
    wrap(CertBundle, "check", _check)
    wrap(CertBundle, "describe", _describe)
    wrap(AWSCertificateManagerResponse, "request_certificate", _request_certificate)
    wrap(AWSCertificateManagerBackend, "delete_certificate", _delete_certificate)
    return "acm-dns-validation"
