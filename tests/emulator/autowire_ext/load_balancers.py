"""Network Load Balancer identifiers shaped like AWS's.

AWS behaviour (ELB API reference, ARN formats): a Network Load Balancer's ARN is
`...:loadbalancer/net/<name>/<id>` and its listeners' `...:listener/net/<name>/<id>/<id>`;
its DNS name is `<name>-<id>.elb.<region>.amazonaws.com`. moto writes `app` for every load
balancer type, which code that parses ARNs (or checks the type from them) would not expect.
"""

from __future__ import annotations

from moto.elbv2.models import ELBv2Backend

from ._common import LOCK, rand_hex, wrap

# Route 53 zone of NLB DNS names in us-east-1 (AWS general reference, ELB endpoints).
_NLB_ZONE = {"us-east-1": "Z26RNL4JYFTOTI"}


def _create_load_balancer(original):
    def create_load_balancer(self, *args, **kwargs):
        lb = original(self, *args, **kwargs)
        if lb.type != "network" or ":loadbalancer/app/" not in lb.arn:
            return lb
        with LOCK:
            old = lb.arn
            new = old.replace(":loadbalancer/app/", ":loadbalancer/net/")
            self.load_balancers.pop(old, None)
            lb.arn = new
            self.load_balancers[new] = lb
            tags = self.tagging_service.tags.pop(old, None)
            if tags is not None:
                self.tagging_service.tags[new] = tags
            lb.dns_name = f"{lb.name}-{rand_hex(16)}.elb.{self.region_name}.amazonaws.com"
            lb.canonical_hosted_zone_id = _NLB_ZONE.get(
                self.region_name, lb.canonical_hosted_zone_id
            )
        return lb

    return create_load_balancer


def apply() -> str:
    wrap(ELBv2Backend, "create_load_balancer", _create_load_balancer)
    return "nlb-arns"
