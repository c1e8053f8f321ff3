"""moto extensions for the privatelink-autowire test bed.

`apply()` patches moto in place (idempotent) and returns the names of what it applied.
Each module documents the AWS behaviour it adds:

- zones: account-specific AZ name -> ID maps;
- load_balancers: NLB ARNs and DNS names shaped like AWS's;
- endpoint_services: endpoint-service visibility, permissions, zones, private DNS
  verification, refusal to delete a service with connections;
- endpoints: CreateVpcEndpoint / ModifyVpcEndpoint validation, acceptance, ClientToken
  idempotency, endpoint connections (accept, reject, describe), asynchronous deletion;
- security_groups: duplicate groups and rules, revoking unknown rules, groups still in use;
- ssm_sharing: AWS RAM sharing of Advanced-tier parameters, read by ARN from other accounts;
- route53: transactional ChangeResourceRecordSets with AWS's InvalidChangeBatch messages;
- private_zones: private hosted zones (CreateHostedZone with a VPC, ListHostedZonesByVPC),
  caller references, DeleteHostedZone of a non-empty zone, tags of unknown zones;
- listener_certs: default and SNI certificates of ELBv2 listeners, checked against ACM;
- acm: DNS validation through public Route 53 records, CAA checks, certificates in use;
- acm_summaries: ListCertificates summaries with SubjectAlternativeNameSummaries.
"""

from __future__ import annotations

_applied: list[str] | None = None


def apply() -> list[str]:
    global _applied
    if _applied is None:
        from . import (
            acm,
            acm_summaries,
            endpoint_services,
            endpoints,
            listener_certs,
            load_balancers,
            private_zones,
            route53,
            security_groups,
            ssm_sharing,
            zones,
        )

        modules = (
            zones,
            load_balancers,
            endpoint_services,
            endpoints,
            security_groups,
            ssm_sharing,
            route53,
            private_zones,
            listener_certs,
            acm,
            acm_summaries,
        )
        _applied = [m.apply() for m in modules]
    return list(_applied)
