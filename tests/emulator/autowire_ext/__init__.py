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
- ssm_expiry: parameter policies; an Expiration policy deletes the parameter at its time;
- route53: transactional ChangeResourceRecordSets with AWS's InvalidChangeBatch messages;
- private_zones: private hosted zones (CreateHostedZone with a VPC, ListHostedZonesByVPC),
  caller references, DeleteHostedZone of a non-empty zone, tags of unknown zones;
- listener_certs: default and SNI certificates of ELBv2 listeners, checked against ACM;
- acm: DNS validation through public Route 53 records, CAA checks, certificates in use;
- acm_summaries: ListCertificates summaries with SubjectAlternativeNameSummaries;
- lambda_outbox: the events AWS would invoke our (not emulated) Lambda functions with,
  kept per function ARN for tests to take over HTTP (/_autowire/outbox);
- event_delivery: EventBridge rule targets as AWS delivers to them: Lambda functions (the
  outbox), SQS queues, event buses of other accounts (original event kept, bus policy
  checked), dead-letter queues;
- ssm_events: Parameter Store Change events on the default event bus;
- sns_lambda: SNS `lambda` subscriptions deliver AWS's SNS event to the outbox;
- connection_notifications: VPC endpoint connection notifications (Create/Describe/Modify/
  Delete) and their SNS messages on Connect, Accept, Reject and Delete;
- quotas: ACM certificate requests per year and certificates per load balancer, AWS's
  defaults or smaller ones set per account over HTTP (/_autowire/quotas).
"""

from __future__ import annotations

_applied: list[str] | None = None


def apply() -> list[str]:
    global _applied
    if _applied is None:
        from . import (
            acm,
            acm_summaries,
            connection_notifications,
            endpoint_services,
            endpoints,
            event_delivery,
            lambda_outbox,
            listener_certs,
            load_balancers,
            private_zones,
            quotas,
            route53,
            security_groups,
            sns_lambda,
            ssm_events,
            ssm_expiry,
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
            lambda_outbox,
            event_delivery,
            ssm_events,
            ssm_expiry,
            sns_lambda,
            connection_notifications,
            quotas,
        )
        _applied = [m.apply() for m in modules]
    return list(_applied)
