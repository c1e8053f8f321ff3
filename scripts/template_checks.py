#!/usr/bin/env python3
"""Checks of the transformed template (the SAM transform's CloudFormation) that need it rendered:
intrinsic functions resolved, conditions decided, with sample parameters. Standard library only,
so it runs under any Python (the parliament step runs it under the linters' venv).

  names TRANSFORMED         render with a 128-character stack name (and the longest value of each
                            parameter that reaches a name) and prove every name and description
                            within its AWS limit; IAM policy sizes within IAM's quotas. Prints
                            the longest name.
  iam-docs TRANSFORMED DIR  write every IAM policy document of the template, rendered in four
                            deployments (defaults; everything on; provider only; consumer only),
                            one JSON file each, for the IAM linter
  parliament DIR ALLOW      run parliament over DIR's documents (in the venv that has it); a
                            finding in ALLOW (a JSON list of {issue, policy, action, format?,
                            reason}) is reported as allowed, with its reason; exit 1 on any other,
                            and on an allow-list entry that no longer matches anything

Used by scripts/check-template.sh.
"""

from __future__ import annotations

import copy
import json
import os
import re
import sys

NO_VALUE = object()

ACCOUNT = "123456789012"
REGION = "us-east-1"
PARTITION = "aws"
STACK_UUID = "12345678-90ab-cdef-1234-567890abcdef"

# Parameters for the "everything on" rendering: every optional part of the template deployed.
ALL_ON = {
    "Deploy": "both",
    "HostedZoneIds": ["Z0123456789ABCDEFGHIJ", "Z1111111111ABCDEFGHIJ"],
    "ForwardToEventBusArns": [f"arn:aws:events:us-east-1:22222222222{i}:event-bus/consumer-reconciler"
                              for i in range(6)],
    "TrustedProviderAccounts": ["111111111111", "333333333333"],
    "TrustedProviderOrgId": "o-a1b2c3d4e5",
    "ExampleNetworkLoadBalancerArns": [
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/net/orders/0123456789abcdef"],
    "ExampleAllowedPrincipals": ["arn:aws:iam::222222222222:root"],
    "ExampleServiceKey": "orders",
    "ExamplePrivateDnsName": "orders.link.example.com",
    "ExamplePublicHostedZoneId": "Z0123456789ABCDEFGHIJ",
    "ExampleOnDeleteWithConnections": "reject",
    "ExampleAllowedAccounts": ["222222222222"],
    "ExampleSharePrincipals": ["222222222222"],
    "ExampleCertificateDomainName": "orders.link.example.com",
    "ExampleCertificateSubjectAlternativeNames": ["*.orders.link.example.com"],
    "ExampleCertificateHostedZoneId": "Z0123456789ABCDEFGHIJ",
    "ExampleCertificateListenerArns": [
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/net/orders/0123456789abcdef/0123456789abcdef"],
    "AliasDomainSuffixes": ["corp.example", "link.example.com"],
    "AliasHostedZoneIds": ["Z2222222222ABCDEFGHIJ"],
    "CreatePrivateAliasZones": "true",
    "ExampleLinkServiceParameter": "arn:aws:ssm:us-east-1:111111111111:parameter/privatelink-autowire/services/orders",
    "ExampleLinkAliasName": "api.orders.link.example.com",
    "ExampleLinkVerifyReachability": "true",
    "CreateIsolatedExampleVpc": "true",
    "ProbePorts": ["443", "8443", "9443", "10443", "11443", "12443"],
    "ProbeTargetsJson": '{"targets":[{"host":"api.orders.link.example.com","port":443,"service_key":"orders"}]}',
    "ProbeAlarmServiceKey": "orders",
    "ProbeAlarmTopicArn": "arn:aws:sns:us-east-1:123456789012:oncall",
}

# Parameters with an AllowedPattern but no MaxLength that may reach a name or description: their
# longest valid value. A name that depends on a parameter bound neither here nor by MaxLength or
# AllowedValues is an error (its limit cannot be proven).
LONGEST = {
    "ExampleServiceKey": "k" * 63,  # ^[a-z0-9][a-z0-9-]{0,62}$
    "ProbeAlarmServiceKey": "k" * 63,
}

# Documented AWS limits on names and descriptions, per resource type and property.
LIMITS = {
    "AWS::Lambda::Function": {"FunctionName": 64, "Description": 256},
    "AWS::IAM::Role": {"RoleName": 64, "Path": 512, "Description": 1000},
    "AWS::IAM::ManagedPolicy": {"ManagedPolicyName": 128, "Path": 512, "Description": 1000},
    "AWS::IAM::Policy": {"PolicyName": 128},
    "AWS::Events::Rule": {"Name": 64, "Description": 512},
    "AWS::Events::EventBus": {"Name": 256, "Description": 512},
    "AWS::Logs::LogGroup": {"LogGroupName": 512},
    "AWS::SQS::Queue": {"QueueName": 80},
    "AWS::SNS::Topic": {"TopicName": 256, "DisplayName": 100},
    "AWS::CloudWatch::Alarm": {"AlarmName": 255, "AlarmDescription": 1024},
    "AWS::EC2::SecurityGroup": {"GroupName": 255, "GroupDescription": 255},
    "AWS::Lambda::EventInvokeConfig": {"Qualifier": 128},
}
NAME_PROPERTIES = {"FunctionName", "RoleName", "ManagedPolicyName", "PolicyName", "Name",
                   "LogGroupName", "QueueName", "TopicName", "AlarmName", "GroupName"}
TAG_KEY_LIMIT, TAG_VALUE_LIMIT, EXPORT_NAME_LIMIT = 128, 256, 255
# IAM quotas: inline policies of one role together, one managed policy (characters, whitespace
# not counted), managed policies attached to one role (the default quota).
ROLE_INLINE_LIMIT, MANAGED_POLICY_LIMIT, MANAGED_PER_ROLE = 10240, 6144, 10


class RenderError(Exception):
    pass


class Renderer:
    """Resolves CloudFormation intrinsic functions in a transformed template."""

    def __init__(self, template, params, stack_name="privatelink-autowire", azs=3, longest_if=False):
        self.t = template
        self.stack_name = stack_name
        self.azs = [f"{REGION}{c}" for c in "abcdef"[:azs]]
        self.longest_if = longest_if
        self.params = {}
        for name, spec in template.get("Parameters", {}).items():
            value = params.get(name, spec.get("Default", ""))
            if spec["Type"] == "CommaDelimitedList" and isinstance(value, str):
                value = value.split(",")
            self.params[name] = value
        self._conditions = {}
        self.touched = set()

    # -- conditions ---------------------------------------------------------------------------
    def condition(self, name):
        if name not in self._conditions:
            touched = set(self.touched)  # deciding a condition puts no parameter into a value
            self._conditions[name] = bool(self.cond(self.t["Conditions"][name]))
            self.touched = touched
        return self._conditions[name]

    def cond(self, node):
        if isinstance(node, dict) and len(node) == 1:
            (fn, arg), = node.items()
            if fn == "Fn::Equals":
                a, b = (self.resolve(x) for x in arg)
                return str(a) == str(b)
            if fn == "Fn::Not":
                return not self.cond(arg[0])
            if fn == "Fn::And":
                return all(self.cond(x) for x in arg)
            if fn == "Fn::Or":
                return any(self.cond(x) for x in arg)
            if fn == "Condition":
                return self.condition(arg)
        raise RenderError(f"not a condition: {node!r}")

    def exists(self, logical_id):
        res = self.t["Resources"].get(logical_id)
        return res is not None and ("Condition" not in res or self.condition(res["Condition"]))

    # -- values -------------------------------------------------------------------------------
    def pseudo(self, name):
        return {
            "AWS::AccountId": ACCOUNT, "AWS::Region": REGION, "AWS::Partition": PARTITION,
            "AWS::URLSuffix": "amazonaws.com", "AWS::StackName": self.stack_name,
            "AWS::StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{self.stack_name}/{STACK_UUID}",
            "AWS::NotificationARNs": [], "AWS::NoValue": NO_VALUE,
        }[name]

    def ref(self, name):
        if name.startswith("AWS::"):
            return self.pseudo(name)
        if name in self.params:
            self.touched.add(name)
            return self.params[name]
        res = self.t["Resources"].get(name)
        if res is None or not self.exists(name):
            raise RenderError(f"Ref to {name}, which {'does not exist' if res is None else 'this deployment leaves out'}")
        kind = res["Type"]
        arn = f"arn:aws:{{}}:{REGION}:{ACCOUNT}:{{}}"
        return {
            "AWS::SNS::Topic": arn.format("sns", name),
            "AWS::SQS::Queue": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}",
            "AWS::IAM::ManagedPolicy": f"arn:aws:iam::{ACCOUNT}:policy/{name}",
            "AWS::EC2::VPCEndpointService": "vpce-svc-0123456789abcdef0",
            "AWS::EC2::VPC": "vpc-0123456789abcdef0",
            "AWS::EC2::Subnet": "subnet-0123456789abcdef0",
            "AWS::EC2::SecurityGroup": "sg-0123456789abcdef0",
        }.get(kind) or self.generated_name(name, kind)

    def generated_name(self, name, kind):
        """The name CloudFormation gives a resource without one: <stack>-<logical ID>-<suffix>,
        cut to the type's name limit."""
        limit = next((v for k, v in LIMITS.get(kind, {}).items() if k in NAME_PROPERTIES), 255)
        suffix = "-ABCDEFGHIJKL"
        return (f"{self.stack_name}-{name}")[:limit - len(suffix)] + suffix

    def getatt(self, name, attr):
        res = self.t["Resources"].get(name)
        if res is None or not self.exists(name):
            raise RenderError(f"GetAtt of {name}, which {'does not exist' if res is None else 'this deployment leaves out'}")
        kind = res["Type"]
        if attr == "Arn":
            return {
                "AWS::Lambda::Function": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}",
                "AWS::IAM::Role": f"arn:aws:iam::{ACCOUNT}:role/{name}",
                "AWS::SQS::Queue": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}",
                "AWS::Events::Rule": f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{name}",
                "AWS::Events::EventBus": f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{name}",
                "AWS::Logs::LogGroup": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{name}:*",
            }.get(kind, f"arn:aws:x:{REGION}:{ACCOUNT}:{name}")
        if attr == "GroupId":
            return "sg-0123456789abcdef0"
        if attr == "CidrBlock":
            return "10.0.0.0/16"
        return f"{name}-{attr}"

    def resolve(self, node):
        if isinstance(node, list):
            out = [self.resolve(x) for x in node]
            return [x for x in out if x is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (fn, arg), = node.items()
            if fn == "Ref":
                return self.ref(arg)
            if fn == "Fn::GetAtt":
                name, attr = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.getatt(name, attr)
            if fn == "Fn::Sub":
                return self.sub(arg)
            if fn == "Fn::Join":
                items = self.resolve(arg[1])
                if not isinstance(items, list):
                    raise RenderError(f"Fn::Join of a non-list: {arg!r}")
                return arg[0].join(str(x) for x in items)
            if fn == "Fn::Split":
                return str(self.resolve(arg[1])).split(arg[0])
            if fn == "Fn::Select":
                items = self.resolve(arg[1])
                index = int(self.resolve(arg[0]))
                if index >= len(items):
                    raise RenderError(f"Fn::Select index {index} of {items!r}")
                return items[index]
            if fn == "Fn::If":
                taken = self.resolve(arg[1] if self.condition(arg[0]) else arg[2])
                if self.longest_if and isinstance(taken, str):
                    # Names: the longer of the two branches, whichever the conditions choose.
                    try:
                        other = self.resolve(arg[2] if self.condition(arg[0]) else arg[1])
                    except RenderError:
                        other = None
                    if isinstance(other, str) and len(other) > len(taken):
                        return other
                return taken
            if fn == "Fn::GetAZs":
                return list(self.azs)
            if fn == "Fn::Cidr":
                count = int(self.resolve(arg[1]))
                return [f"10.0.{i}.0/24" for i in range(count)]
            if fn == "Fn::ImportValue":
                return f"imported-{self.resolve(arg)}"
            if fn == "Fn::Base64":
                return self.resolve(arg)
            if fn == "Fn::FindInMap":
                m, k1, k2 = (self.resolve(x) for x in arg)
                return self.t["Mappings"][m][k1][k2]
            if fn.startswith("Fn::") or fn == "Condition":
                raise RenderError(f"unsupported intrinsic {fn}")
        out = {k: self.resolve(v) for k, v in node.items()}
        return {k: v for k, v in out.items() if v is not NO_VALUE}

    def sub(self, arg):
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
        values = {k: self.resolve(v) for k, v in variables.items()}

        def one(m):
            name = m.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in values:
                value = values[name]
            elif "." in name and not name.startswith("AWS::"):
                value = self.getatt(*name.split(".", 1))
            else:
                value = self.ref(name)
            if isinstance(value, list):
                raise RenderError(f"Fn::Sub of a list variable ${{{name}}}")
            return str(value)

        return re.sub(r"\$\{([^}]+)\}", one, text)


# ---- names ------------------------------------------------------------------------------------
def bounded_params(template):
    """The longest valid value of each parameter that has one."""
    out = {}
    for name, spec in template.get("Parameters", {}).items():
        if name in LONGEST:
            out[name] = LONGEST[name]
        elif "MaxLength" in spec and spec["Type"] == "String":
            value = spec.get("Default", "") or "x"
            head = "/" if value.startswith("/") else ""
            out[name] = head + "x" * (int(spec["MaxLength"]) - len(head))
    return out


def check_names(template):
    stack_name = "S" * 128
    bounded = bounded_params(template)
    params = dict(ALL_ON, **bounded)
    problems, measured = [], []
    r = Renderer(template, params, stack_name, longest_if=True)
    renderers = [Renderer(template, params, stack_name, azs) for azs in (3, 2)]

    def check(where, prop, value_node, limit, is_name):
        r.touched = set()
        value = r.resolve(value_node)
        if not isinstance(value, str):
            return
        for p in r.touched:
            spec = template["Parameters"][p]
            longest_allowed = max((str(v) for v in spec.get("AllowedValues", [])), key=len, default=None)
            if p not in bounded and not (longest_allowed is not None
                                         and len(str(r.params[p])) >= len(longest_allowed)):
                problems.append(f"{where}.{prop} depends on parameter {p}, whose length has no "
                                "known bound (add it to LONGEST in scripts/template_checks.py)")
        measured.append((len(value), limit, f"{where}.{prop}", is_name))
        if len(value) > limit:
            problems.append(f"{where}.{prop} is {len(value)} characters, over its limit of {limit}: {value[:80]}...")

    for logical_id, res in template["Resources"].items():
        props = res.get("Properties", {})
        for prop, limit in LIMITS.get(res["Type"], {}).items():
            if prop in props:
                check(logical_id, prop, props[prop], limit, prop in NAME_PROPERTIES)
        for policy in props.get("Policies", []) if res["Type"] == "AWS::IAM::Role" else []:
            if isinstance(policy, dict) and "PolicyName" in policy:
                check(logical_id, "Policies.PolicyName", policy["PolicyName"], 128, True)
        tags = props.get("Tags", [])
        if isinstance(tags, list):
            for tag in tags:
                if isinstance(tag, dict) and "Key" in tag:
                    check(logical_id, f"Tags[{tag['Key']}].Key", tag["Key"], TAG_KEY_LIMIT, False)
                    check(logical_id, f"Tags[{tag['Key']}].Value", tag["Value"], TAG_VALUE_LIMIT, False)
    # The template's own texts (CloudFormation's limits: 1024 for the template's description,
    # 4000 for a parameter's, 1024 for an output's).
    measured.append((len(template.get("Description", "")), 1024, "Description", False))
    for kind, limit in (("Parameters", 4000), ("Outputs", 1024)):
        for key, item in template.get(kind, {}).items():
            measured.append((len(item.get("Description", "")), limit, f"{kind}.{key}.Description", False))
    problems.extend(f"{where} is {length} characters, over its limit of {limit}"
                    for length, limit, where, _ in measured if length > limit)
    for output_id, output in template.get("Outputs", {}).items():
        if "Export" in output:
            check(f"Outputs.{output_id}", "Export.Name", output["Export"]["Name"], EXPORT_NAME_LIMIT, True)

    # Rendering every resource (all branches that exist in a Region with 3 or 2 AZs) also proves
    # the template's Fn::Select indexes hold.
    for rr in renderers:
        for logical_id, res in template["Resources"].items():
            if rr.exists(logical_id):
                try:
                    rr.resolve(res.get("Properties", {}))
                except RenderError as e:
                    problems.append(f"{logical_id} ({len(rr.azs)} AZs): {e}")

    print("every resource rendered with 3 and with 2 Availability Zones (!GetAZs), everything deployed")
    sizes = policy_sizes(template, Renderer(template, params, stack_name))
    for what, size, limit in sizes:
        if size > limit:
            problems.append(f"{what}: {size} characters, over IAM's {limit}")

    names = sorted((m for m in measured if m[3]), reverse=True)
    print(f"stack name: {len(stack_name)} characters; {len(measured)} names, descriptions and tags measured")
    print("longest names:")
    for length, limit, where, _ in names[:6]:
        print(f"  {length:4d} of {limit:4d}  {where}")
    closest_name = max(names, key=lambda m: m[0] / m[1])
    closest = max(measured, key=lambda m: m[0] / m[1])
    print(f"name closest to its limit: {closest_name[2]}, {closest_name[0]} of {closest_name[1]}")
    print(f"text closest to its limit: {closest[2]}, {closest[0]} of {closest[1]}")
    print("IAM policy sizes (characters without whitespace):")
    for what, size, limit in sorted(sizes, key=lambda s: -s[1] / s[2])[:6]:
        print(f"  {size:5d} of {limit:5d}  {what}")
    if names:
        length, limit, where, _ = names[0]
        print(f"longest name at a {len(stack_name)}-character stack name: {where}, {length} of {limit} characters")
    for p in problems:
        print(f"NAME-LIMIT: {p}", file=sys.stderr)
    return 1 if problems else 0


def compact(doc):
    return len(json.dumps(doc, separators=(",", ":")))


def policy_sizes(template, r):
    """(what, size, limit) for each role's inline policies together, each managed policy, and each
    role's number of managed policies, in the everything-on rendering."""
    out = []
    resources = template["Resources"]
    for logical_id, res in resources.items():
        if not r.exists(logical_id):
            continue
        if res["Type"] == "AWS::IAM::Role":
            props = r.resolve(res["Properties"])
            inline = sum(compact(p["PolicyDocument"]) for p in props.get("Policies", []))
            for other_id, other in resources.items():
                if other["Type"] == "AWS::IAM::Policy" and r.exists(other_id) and \
                        {"Ref": logical_id} in other["Properties"].get("Roles", []):
                    inline += compact(r.resolve(other["Properties"]["PolicyDocument"]))
            out.append((f"{logical_id}: inline policies together", inline, ROLE_INLINE_LIMIT))
            out.append((f"{logical_id}: managed policies attached",
                        len(props.get("ManagedPolicyArns", [])), MANAGED_PER_ROLE))
        elif res["Type"] == "AWS::IAM::ManagedPolicy":
            out.append((f"{logical_id}: managed policy",
                        compact(r.resolve(res["Properties"]["PolicyDocument"])), MANAGED_POLICY_LIMIT))
    return out


# ---- IAM documents for the linter ---------------------------------------------------------------
DEPLOYMENTS = {
    "defaults": {},
    "all-on": ALL_ON,
    "provider-only": dict({k: v for k, v in ALL_ON.items()
                           if k in ("HostedZoneIds", "ForwardToEventBusArns") or k.startswith("ExampleS")
                           or k.startswith("ExampleC") or k.startswith("ExampleN") or k.startswith("ExampleP")
                           or k.startswith("ExampleA") or k.startswith("ExampleO")},
                          Deploy="provider"),
    "consumer-only": dict({k: v for k, v in ALL_ON.items()
                           if k.startswith(("Trusted", "Alias", "CreatePrivate", "ExampleLink",
                                            "CreateIsolated", "Probe"))},
                          Deploy="consumer"),
}
# Resource-based policies, by type: (property holding the document).
RESOURCE_POLICIES = {
    "AWS::SQS::QueuePolicy": "PolicyDocument",
    "AWS::SNS::TopicPolicy": "PolicyDocument",
    "AWS::Events::EventBus": "Policy",
}


def iam_docs(template, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    count, problems = 0, []
    for deployment, params in DEPLOYMENTS.items():
        r = Renderer(template, params)
        # Every resource and output of the deployment renders: no reference to a resource the
        # deployment leaves out, no Fn::Select past the end of a list.
        for logical_id, res in list(template["Resources"].items()) + [
                (f"Outputs.{k}", v) for k, v in template.get("Outputs", {}).items()]:
            exists = r.condition(res["Condition"]) if "Condition" in res else True
            if logical_id in template["Resources"]:
                exists = r.exists(logical_id)
            if exists:
                try:
                    r.resolve(res.get("Properties", res.get("Value")))
                except RenderError as e:
                    problems.append(f"{deployment}: {logical_id}: {e}")
        for logical_id, res in template["Resources"].items():
            if not r.exists(logical_id):
                continue
            kind, props = res["Type"], res.get("Properties", {})
            docs = []
            if kind == "AWS::IAM::Role":
                for policy in r.resolve(props.get("Policies", [])):
                    docs.append((policy["PolicyName"], policy["PolicyDocument"]))
            elif kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
                docs.append(("policy", r.resolve(props["PolicyDocument"])))
            elif kind in RESOURCE_POLICIES and RESOURCE_POLICIES[kind] in props:
                doc = r.resolve(props[RESOURCE_POLICIES[kind]])
                if doc is not NO_VALUE:
                    docs.append(("resource-policy", doc))
            for name, doc in docs:
                path = os.path.join(out_dir, f"{deployment}--{logical_id}--{name}.json")
                with open(path, "w", encoding="utf-8") as f:
                    json.dump(doc, f, indent=1)
                count += 1
    print(f"{count} IAM policy documents in {len(DEPLOYMENTS)} deployments ({', '.join(DEPLOYMENTS)})")
    for p in problems:
        print(f"RENDER: {p}", file=sys.stderr)
    return 1 if problems else 0


def run_parliament(doc_dir, allow_path):
    import parliament  # noqa: F401  (the linters' venv)
    import parliament.statement
    from parliament import analyze_policy_string

    # parliament 1.6.4 raises on the array condition types of its own definitions (ArrayOfARN,
    # the type of events:TargetArn): read them as their element type, as IAM does.
    translate = parliament.statement.translate_documentation_types

    def translate_arrays(kind):
        if isinstance(kind, str) and kind.startswith("ArrayOf"):
            kind = kind[len("ArrayOf"):]
        return translate(kind)

    parliament.statement.translate_documentation_types = translate_arrays

    with open(allow_path, encoding="utf-8") as f:
        allow = json.load(f)
    findings, allowed, used, docs = set(), {}, set(), 0
    for name in sorted(os.listdir(doc_dir)):
        with open(os.path.join(doc_dir, name), encoding="utf-8") as f:
            text = f.read()
        docs += 1
        policy = analyze_policy_string(text, filepath=name, include_community_auditors=True)
        source = name.split("--", 1)[1].rsplit(".json", 1)[0]  # <logical ID>--<policy name>
        for finding in policy.findings:
            # One finding per action (and required ARN format, for RESOURCE_MISMATCH).
            details = finding.detail if isinstance(finding.detail, list) and finding.detail else [finding.detail]
            for d in details:
                if isinstance(d, dict) and "action" in d:
                    pairs = [(d["action"], d.get("required_format", ""))]
                else:
                    actions = (finding.location or {}).get("actions") or [""]
                    pairs = [(a, "") for a in actions]
                for action, fmt in pairs:
                    key = (finding.issue, source, action.lower(), fmt,
                           "" if action else json.dumps(d, sort_keys=True, default=str))
                    rule = next((i for i, a in enumerate(allow) if a["issue"] == finding.issue
                                 and a["policy"] == source and a.get("action", "").lower() == action.lower()
                                 and a.get("format", "") == fmt), None)
                    if rule is None:
                        findings.add(key)
                    else:
                        allowed[key] = allow[rule]["reason"]
                        used.add(rule)
    print(f"parliament {getattr(parliament, '__version__', '?')} (with its community auditors): "
          f"{docs} policy documents")
    for (issue, source, action, fmt, _), reason in sorted(allowed.items()):
        print(f"  allowed: {issue} {source} {action} {fmt}".rstrip() + f"\n           {reason}")
    stale = [a for i, a in enumerate(allow) if i not in used]
    for a in stale:
        print(f"PARLIAMENT: allow-list entry matches no finding (remove it): {json.dumps(a)}", file=sys.stderr)
    for issue, source, action, fmt, detail in sorted(findings):
        print(f"PARLIAMENT: {issue} {source} {action} {fmt} {detail}".rstrip(), file=sys.stderr)
    unknown = [k for k in findings if k[0] in ("UNKNOWN_ACTION", "UNKNOWN_PREFIX",
                                               "UNKNOWN_CONDITION_FOR_ACTION", "UNKNOWN_OPERATOR")]
    print(f"parliament findings: {len(findings)} (unknown actions or condition keys: {len(unknown)}), "
          f"allow-listed: {len(allowed)}")
    return 1 if findings or stale else 0


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    command = argv[1]
    if command == "names":
        with open(argv[2], encoding="utf-8") as f:
            return check_names(json.load(f))
    if command == "iam-docs":
        with open(argv[2], encoding="utf-8") as f:
            return iam_docs(json.load(f), argv[3])
    if command == "parliament":
        return run_parliament(argv[2], argv[3])
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
