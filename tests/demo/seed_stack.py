"""One example template deployed on the emulator the way CloudFormation would deploy it: its
resources in dependency order, each from its resolved Properties. AWS resources are made by
seed_resources, the nested product by seed_product, and each custom resource is a CloudFormation
request to the real function its ServiceToken names (the provider or consumer binary under the
harness), whose answer gives its PhysicalResourceId and attributes. Delete goes in reverse order
(custom resources get Delete requests) and proves each resource gone.
"""

from __future__ import annotations

import uuid

from demo import CloudFormation
from demo_output import expect, note, say
from seed_resources import HANDLERS, generated_name
from seed_template import EXAMPLES, Resolver, creation_order, load, parameters
from testbed_fixtures import REGION

NESTED = "AWS::Serverless::Application"


def short(ref: str) -> str:
    """An ARN's last part, an ID as it is."""
    return ref.rsplit("/", 1)[-1] if ref.startswith("arn:") else ref


class SeedStack:
    """`example`/`side`.yaml in `session`'s account. `functions`: {ARN: LambdaHarness} of the
    functions custom resources may name; `capture`: the ResponseURL stand-in."""

    def __init__(self, example: str, side: str, session, params: dict, functions: dict,
                 capture, product):
        self.label = f"examples/{example}/{side}.yaml"
        self.template = load(EXAMPLES / example / f"{side}.yaml")
        self.resources = self.template["Resources"]
        self.session, self.product, self.capture = session, product, capture
        self.name = f"{example}-{side}"
        self.stack_id = (f"arn:aws:cloudformation:{REGION}:{session.account_id}:stack/"
                         f"{self.name}/{uuid.uuid4()}")
        self.params = parameters(self.template, params, self.label)
        self.functions = functions
        self.refs: dict = {}
        self.atts: dict = {}
        self.props: dict = {}  # logical ID -> resolved Properties
        self.answers: dict = {}  # logical ID -> the custom resource's answer
        self.created: list[str] = []
        self.seen: dict = {}  # what the demo looked up, to prove it gone after the delete
        self.deleted = 0
        zones = session.client("ec2").describe_availability_zones()["AvailabilityZones"]
        self.azs = [z["ZoneName"] for z in zones]

    def resolver(self, **params) -> Resolver:
        """Resolves against what the stack has created, with `params` over its parameters."""
        pseudo = {"AWS::Region": REGION, "AWS::AccountId": self.session.account_id,
                  "AWS::Partition": "aws", "AWS::StackName": self.name,
                  "AWS::StackId": self.stack_id, "AWS::URLSuffix": "amazonaws.com"}
        values = parameters(self.template, {**self.params, **params}, self.label)
        return Resolver({**pseudo, **values, **self.refs}, self.atts, self.azs,
                        self.template.get("Conditions"))

    def properties(self, logical_id: str, **params) -> dict:
        """The resource's Properties resolved now (with `params` over the stack's)."""
        return self.resolver(**params)(self.resources[logical_id].get("Properties", {}))

    # ------------------------------------------------------------ custom resources

    def custom(self, kind: str, logical_id: str, props: dict, physical_id: str | None = None,
               as_logical_id: str | None = None) -> dict:
        """A CloudFormation request for the custom resource to the function its ServiceToken
        names; returns the answer. `as_logical_id`: send it as another resource of the stack."""
        props = dict(props)
        token = props.pop("ServiceToken")
        expect(token in self.functions, f"{self.label} {logical_id}: ServiceToken {token} names "
                                        "none of the demo's functions")
        cfn = CloudFormation(self.functions[token], self.capture, self.stack_id)
        rtype = self.resources[logical_id]["Type"]
        return cfn.request(kind, rtype, as_logical_id or logical_id, props, physical_id)["answer"]

    # ------------------------------------------------------------ create, delete

    def _create_one(self, logical_id: str) -> None:
        rtype = self.resources[logical_id]["Type"]
        props = self.props[logical_id] = self.properties(logical_id)
        if rtype.startswith("Custom::"):
            function = props["ServiceToken"].rsplit(":", 1)[-1]
            say(f"{self.name}: {rtype} {logical_id} → the {function} function (real binary)")
            answer = self.answers[logical_id] = self.custom("Create", logical_id, props)
            expect(answer["Status"] == "SUCCESS",
                   f"{self.label} {logical_id}: {answer.get('Reason')}")
            ref, atts = answer["PhysicalResourceId"], answer.get("Data") or {}
        else:
            handler = self.product if rtype == NESTED else HANDLERS.get(rtype)
            expect(handler is not None,
                   f"{self.label} {logical_id}: the demo does not build {rtype}")
            unknown = set(props) - getattr(handler, "known", {"Location", "Parameters"})
            expect(not unknown, f"{self.label} {logical_id}: the demo does not build {unknown}")
            name = generated_name(self.name, logical_id)
            ref, atts, summary = handler.create(self.session, name, props)
            note(f"{rtype:<42} {logical_id:<28} {short(ref)}")
            note(f"{'':<42} {summary}")
        self.refs[logical_id], self.atts[logical_id] = ref, atts
        self.created.append(logical_id)

    def deploy(self) -> dict:
        """Creates every resource (those whose Condition holds); returns the stack's outputs."""
        say(f"{self.name}: deploying {self.label} in account {self.session.account_id}")
        note(f"parameters: {', '.join(f'{k}={v}' for k, v in self.params.items())}")
        for logical_id in creation_order(self.resources):
            condition = self.resources[logical_id].get("Condition")
            if condition is None or self.resolver().condition(condition):
                self._create_one(logical_id)
        outputs = self.resolver()({k: v["Value"] for k, v in self.template["Outputs"].items()})
        say(f"{self.name}: outputs")
        for key, value in outputs.items():
            note(f"{key:<24} {value}")
        return outputs

    def _delete_one(self, logical_id: str) -> None:
        rtype = self.resources[logical_id]["Type"]
        ref = self.refs.pop(logical_id)
        if rtype.startswith("Custom::"):
            say(f"{self.name}: Delete {rtype} {logical_id}")
            answer = self.custom("Delete", logical_id, self.props[logical_id], physical_id=ref)
            expect(answer["Status"] == "SUCCESS",
                   f"{self.label} {logical_id} Delete: {answer.get('Reason')}")
            return
        handler = self.product if rtype == NESTED else HANDLERS[rtype]
        handler.delete(self.session, ref, self.atts[logical_id])
        expect(not handler.exists(self.session, ref, self.atts[logical_id]),
               f"{self.label} {logical_id} {ref} is still there after its delete")
        note(f"deleted {rtype:<42} {logical_id:<28} {short(ref)}: gone")

    def delete(self) -> None:
        """Deletes what the stack created, last first; each AWS resource proved gone."""
        say(f"{self.name}: deleting the stack")
        while self.created:
            self._delete_one(self.created.pop())
            self.deleted += 1
