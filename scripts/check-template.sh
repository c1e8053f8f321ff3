#!/usr/bin/env bash
# Static checks of the SAM template, all offline:
#   1. sam validate --lint     cfn-lint as SAM CLI runs it (it reads .cfnlintrc.yaml from the cwd)
#   2. sam validate            the SAM transform itself
#   3. cfn-lint                with .cfnlintrc.yaml: default rules + cfn-lint-serverless rules,
#                              on the SAM template and on its transformed CloudFormation
#   4. cfn-guard               policies/*.guard on the transformed CloudFormation, then a self-test
#                              that each rule still rejects a known-bad variant of it
#   5. checkov                 on the SAM template: zero failed checks; every waiver is a
#                              checkov skip with its reason in the resource's Metadata
#   6. parliament              every IAM policy document of the transformed template, rendered
#                              (scripts/template_checks.py) in four deployments: zero findings
#                              beyond the allow-list below, each entry with its reason
#   7. name limits             the transformed template rendered with a 128-character stack name:
#                              every name, description and tag within its AWS limit, IAM policy
#                              sizes within IAM's quotas; prints the longest name
#   8. the examples            every examples/*/*.yaml: sam validate --lint, cfn-lint (+ serverless
#                              rules, nested parameters checked against template.yaml), cfn-guard,
#                              checkov (see step 8 for what does not apply to them)
# Exits non-zero on any finding (informational ones included). A missing tool is skipped with a
# warning, except when CI=true, where it is a failure.
#
# Usage: scripts/check-template.sh [--install-guard] [template]
#   --install-guard  build cfn-guard into $HOME/.cache/privatelink-autowire/tools when it is missing
#                    (cargo install --locked, a few minutes on 2 cores)
# Env: VENV       the project's venv (SAM CLI, cfn-lint); default: `make print-venv`
#      LINT_VENV  the linters' venv (checkov, parliament; tests/emulator/linters.lock);
#                 default: `make print-lint-venv` (`make linters` builds it)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

CACHE_DIR="${CACHE_DIR:-$HOME/.cache/privatelink-autowire}"
TOOLS_DIR="$CACHE_DIR/tools"
CFN_GUARD_VERSION="3.2.1"
REGION="us-east-1"
export SAM_CLI_TELEMETRY=0

install_guard=false
template="template.yaml"
for arg in "$@"; do
    case "$arg" in
        --install-guard) install_guard=true ;;
        -h|--help) sed -n '2,28p' "$0"; exit 0 ;;
        -*) echo "check-template: unknown option $arg" >&2; exit 2 ;;
        *) template="$arg" ;;
    esac
done
[[ -f "$template" ]] || { echo "check-template: no template at $template" >&2; exit 2; }

failures=()
skipped=()
fail() { failures+=("$1"); printf 'FAIL: %s\n' "$1" >&2; }
missing() {
    if [[ "${CI:-}" == "true" ]]; then
        fail "$1 is not installed ($2)"
    else
        skipped+=("$1")
        printf 'SKIP: %s is not installed (%s)\n' "$1" "$2" >&2
    fi
}
step() { printf '\n==> %s\n' "$*"; }

# Prefer the project's pinned Python venv (see the Makefile) over whatever else is on PATH.
venv="${VENV:-}"
if [[ -z "$venv" ]] && command -v make >/dev/null 2>&1; then
    venv="$(make -s print-venv 2>/dev/null || true)"
fi
if [[ -n "$venv" && -x "$venv/bin/sam" ]]; then
    export PATH="$venv/bin:$PATH"
fi
# checkov and parliament live in a venv of their own: checkov pins boto3, networkx and packaging
# to versions that SAM CLI and moto in the project's venv cannot share.
lint_venv="${LINT_VENV:-}"
if [[ -z "$lint_venv" ]] && command -v make >/dev/null 2>&1; then
    lint_venv="$(make -s print-lint-venv 2>/dev/null || true)"
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# ---- 1 + 2: SAM CLI -----------------------------------------------------------------------
if command -v sam >/dev/null 2>&1; then
    step "$(sam --version): sam validate --lint"
    sam validate --lint --region "$REGION" --template-file "$template" || fail "sam validate --lint"
    step "sam validate (SAM transform)"
    sam validate --region "$REGION" --template-file "$template" || fail "sam validate"
else
    missing sam "run 'make venv'"
fi

# ---- SAM transform to plain CloudFormation, for cfn-lint and cfn-guard --------------------
transformed="$tmp/transformed.json"
sam_python=""
if command -v sam >/dev/null 2>&1; then
    sam_python="$(dirname "$(command -v sam)")/python"
    [[ -x "$sam_python" ]] || sam_python="python3"
fi
# sam_transform SOURCE TARGET: the SAM transform of SOURCE, as JSON in TARGET.
# Offline: local CodeUris become placeholder S3 locations, as in `sam validate`; the template
# must not name managed policies, since resolving their ARNs needs IAM.
sam_transform() {
    "$sam_python" - "$1" "$2" "$REGION" <<'PY'
import json, sys
from samcli.lib.translate.sam_template_validator import SamTemplateValidator
from samcli.yamlhelper import yaml_parse

class NoManagedPolicies:
    def load(self):
        sys.exit("the template names managed policies, which cannot be resolved offline")

source, target, region = sys.argv[1:4]
with open(source, encoding="utf-8") as f:
    template = yaml_parse(f.read())
translated = SamTemplateValidator(template, NoManagedPolicies(), region=region).get_translated_template_if_valid()
with open(target, "w", encoding="utf-8") as f:
    json.dump(yaml_parse(translated), f, indent=1, sort_keys=True)
print(f"{len(yaml_parse(translated)['Resources'])} resources")
PY
}

have_transformed=false
if [[ -n "$sam_python" ]]; then
    step "SAM transform to CloudFormation"
    if sam_transform "$template" "$transformed"; then
        have_transformed=true
    else
        fail "SAM transform"
    fi
fi

# ---- 3: cfn-lint with the serverless rules ------------------------------------------------
have_cfn_lint=false
if command -v cfn-lint >/dev/null 2>&1; then
    if python_for_lint="$(dirname "$(command -v cfn-lint)")/python" \
        && "$python_for_lint" -c 'import cfn_lint_serverless' >/dev/null 2>&1; then
        have_cfn_lint=true
        step "$(cfn-lint --version) + cfn-lint-serverless: $template"
        cfn-lint --config-file .cfnlintrc.yaml --non-zero-exit-code informational -- "$template" \
            || fail "cfn-lint $template"
        if $have_transformed; then
            step "cfn-lint + cfn-lint-serverless: transformed CloudFormation"
            cfn-lint --config-file .cfnlintrc.yaml --non-zero-exit-code informational -- "$transformed" \
                || fail "cfn-lint (transformed template)"
        fi
    else
        missing cfn-lint-serverless "run 'make venv'"
    fi
else
    missing cfn-lint "run 'make venv'"
fi

# ---- 4: cfn-guard -------------------------------------------------------------------------
guard=""
if command -v cfn-guard >/dev/null 2>&1; then
    guard="$(command -v cfn-guard)"
elif [[ -x "$TOOLS_DIR/bin/cfn-guard" ]]; then
    guard="$TOOLS_DIR/bin/cfn-guard"
elif $install_guard; then
    step "installing cfn-guard $CFN_GUARD_VERSION into $TOOLS_DIR"
    # A throwaway target dir: the project's cargo cache is for the project.
    if env -u CARGO_TARGET_DIR cargo install --locked --quiet cfn-guard --version "$CFN_GUARD_VERSION" \
        --root "$TOOLS_DIR"; then
        guard="$TOOLS_DIR/bin/cfn-guard"
    else
        fail "cargo install cfn-guard"
    fi
fi

if [[ -z "$guard" ]]; then
    missing cfn-guard "run scripts/check-template.sh --install-guard"
elif ! $have_transformed; then
    fail "cfn-guard not run: no transformed template"
else
    step "$("$guard" --version): policies/*.guard"
    "$guard" validate --rules policies --data "$transformed" --show-summary all \
        || fail "cfn-guard"

    step "cfn-guard self-test: each rule rejects a known-bad template"
    mkdir -p "$tmp/bad"
    # Each variant breaks one policy; the file name says which rule must fail.
    python3 - "$transformed" "$tmp/bad" <<'PY'
import copy, json, os, sys

source, out = sys.argv[1:3]
with open(source, encoding="utf-8") as f:
    base = json.load(f)
resources = base["Resources"]
functions = [k for k, v in resources.items() if v["Type"] == "AWS::Lambda::Function"]
roles = [k for k, v in resources.items() if v["Type"] == "AWS::IAM::Role"]
if not functions or not roles:
    sys.exit("self-test needs a Lambda function and an IAM role in the template")
fn, role = functions[0], roles[0]

def variant(rule, label, change):
    t = copy.deepcopy(base)
    change(t["Resources"])
    with open(os.path.join(out, f"{rule}--{label}.json"), "w", encoding="utf-8") as f:
        json.dump(t, f)

def set_prop(name, key, value):
    return lambda r: r[name]["Properties"].__setitem__(key, value)

def add_policy(statement):
    def change(r):
        r[role]["Properties"].setdefault("Policies", []).append(
            {"PolicyName": "bad", "PolicyDocument": {"Version": "2012-10-17", "Statement": statement}})
    return change

def add_conditional_policy(statement):
    """The policy behind an Fn::If, as the template does for optional permissions."""
    def change(r):
        r[role]["Properties"].setdefault("Policies", []).append({"Fn::If": [
            "SomeCondition",
            {"PolicyName": "bad", "PolicyDocument": {"Version": "2012-10-17", "Statement": statement}},
            {"Ref": "AWS::NoValue"}]})
    return change

def add_policy_resource(statement):
    def change(r):
        r["BadPolicy"] = {"Type": "AWS::IAM::Policy", "Properties": {
            "PolicyName": "bad", "Roles": [{"Ref": role}],
            "PolicyDocument": {"Version": "2012-10-17", "Statement": statement}}}
    return change

def role_statements(r):
    """Every statement of every role's inline policies, including policies behind Fn::If, and of
    every policy resource (such as the managed policies the consumer and the reconciler share)."""
    for res in r.values():
        if res["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            docs = [res["Properties"]]
        elif res["Type"] == "AWS::IAM::Role":
            docs = [doc for policy in res["Properties"].get("Policies", [])
                    for doc in [policy] + [b for b in policy.get("Fn::If", [])[1:] if isinstance(b, dict)]]
        else:
            continue
        for doc in docs:
            statements = doc.get("PolicyDocument", {}).get("Statement", [])
            yield from statements if isinstance(statements, list) else [statements]

def widen(action):
    """The template's own statements that allow `action`, widened to Resource '*'."""
    def change(r):
        hits = [st for st in role_statements(r)
                if action in ([st["Action"]] if isinstance(st.get("Action"), str) else st.get("Action", []))]
        if not hits:
            sys.exit(f"self-test: no statement in the template allows {action}")
        for st in hits:
            st["Resource"] = "*"
    return change

def strip_conditions(action):
    """The template's own statements that allow `action`, with their Condition removed."""
    def change(r):
        hits = [st for st in role_statements(r)
                if action in ([st["Action"]] if isinstance(st.get("Action"), str) else st.get("Action", []))]
        if not hits:
            sys.exit(f"self-test: no statement in the template allows {action}")
        for st in hits:
            st.pop("Condition", None)
    return change

def add_resource_to_unconditioned(action, arn):
    """`arn` added to the template's statements that allow `action` without a condition."""
    def change(r):
        hits = [st for st in role_statements(r)
                if action in ([st["Action"]] if isinstance(st.get("Action"), str) else st.get("Action", []))
                and "Condition" not in st]
        if not hits:
            sys.exit(f"self-test: no unconditioned statement in the template allows {action}")
        for st in hits:
            resources = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
            st["Resource"] = resources + [{"Fn::Sub": arn}]
    return change

def unconfigure_log_group_of(function):
    """`function` without LoggingConfig.LogGroup (it would log to /aws/lambda/<name>, a log group
    this template does not declare), while every other function keeps its own."""
    def change(r):
        r[function]["Properties"]["LoggingConfig"].pop("LogGroup")
    return change

def drop_log_groups(r):
    for k in [k for k, v in r.items() if v["Type"] == "AWS::Logs::LogGroup"]:
        del r[k]

def drop_retention(r):
    for v in r.values():
        if v["Type"] == "AWS::Logs::LogGroup":
            v["Properties"].pop("RetentionInDays", None)

variant("lambda_arm64_provided_al2023", "x86_64", set_prop(fn, "Architectures", ["x86_64"]))
variant("lambda_arm64_provided_al2023", "al2", set_prop(fn, "Runtime", "provided.al2"))
variant("lambda_log_group_with_retention", "no-log-group", drop_log_groups)
variant("lambda_log_group_with_retention", "no-retention", drop_retention)
variant("iam_no_wildcard_action", "star", add_policy([{"Effect": "Allow", "Action": "*", "Resource": "*"}]))
variant("iam_no_wildcard_action", "service-star",
        add_policy({"Effect": "Allow", "Action": ["ec2:*"], "Resource": "*"}))
variant("ssm_writes_never_on_every_resource", "put-star",
        add_policy([{"Effect": "Allow", "Action": ["ssm:GetParameter", "ssm:PutParameter"], "Resource": "*"}]))
variant("ssm_writes_never_on_every_resource", "delete-star",
        add_policy({"Effect": "Allow", "Action": "ssm:DeleteParameter", "Resource": ["*"]}))
variant("ssm_writes_never_on_every_resource", "template-put-star", widen("ssm:PutParameter"))
variant("iam_no_wildcard_action", "conditional-star",
        add_conditional_policy([{"Effect": "Allow", "Action": "*", "Resource": "*"}]))
variant("iam_statements_unconditional", "statement-if",
        add_policy([{"Fn::If": ["SomeCondition",
                                {"Effect": "Allow", "Action": "acm:DeleteCertificate", "Resource": "*"},
                                {"Ref": "AWS::NoValue"}]}]))
variant("dns_changes_never_on_every_resource", "star",
        add_policy([{"Effect": "Allow", "Action": "route53:ChangeResourceRecordSets", "Resource": "*"}]))
variant("dns_changes_never_on_every_resource", "conditional-star",
        add_conditional_policy([{"Effect": "Allow", "Action": ["route53:ChangeResourceRecordSets"],
                                 "Resource": ["arn:aws:route53:::hostedzone/Z1", "*"]}]))
variant("dns_changes_never_on_every_resource", "template-zones-star", widen("route53:ChangeResourceRecordSets"))
variant("certificate_deletes_never_on_every_resource", "star",
        add_policy([{"Effect": "Allow", "Action": "acm:DeleteCertificate", "Resource": "*"}]))
variant("certificate_deletes_never_on_every_resource", "policy-resource-star",
        add_policy_resource([{"Effect": "Allow", "Action": ["ACM:deletecertificate"], "Resource": ["*"]}]))
variant("certificate_deletes_never_on_every_resource", "template-star", widen("acm:DeleteCertificate"))
variant("elb_writes_never_on_every_resource", "star",
        add_policy([{"Effect": "Allow", "Action": ["elasticloadbalancing:ModifyListener"], "Resource": "*"}]))
variant("elb_writes_never_on_every_resource", "template-star",
        widen("elasticloadbalancing:AddListenerCertificates"))
variant("endpoint_service_writes_never_on_every_resource", "star",
        add_policy([{"Effect": "Allow", "Action": "ec2:RejectVpcEndpointConnections", "Resource": "*"}]))
variant("endpoint_service_writes_never_on_every_resource", "template-star",
        widen("ec2:ModifyVpcEndpointServiceConfiguration"))
# One function without its log group while the others keep theirs: one logging to its default
# log group (which no resource declares), and one whose LoggingConfig.LogGroup names a log group
# that is gone.
configured = [k for k in functions
              if "Ref" in resources[k]["Properties"].get("LoggingConfig", {}).get("LogGroup", {})]
if not configured:
    sys.exit("self-test needs a function with LoggingConfig.LogGroup")
for k in configured:
    variant("lambda_log_group_with_retention", f"{k}-unconfigured", unconfigure_log_group_of(k))
variant("lambda_log_group_with_retention", "configured-log-group-gone",
        lambda r: r.pop(resources[configured[-1]]["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]))
variant("iam_no_wildcard_action", "partial-wildcard",
        add_policy([{"Effect": "Allow", "Action": "ec2:*VpcEndpoint*",
                     "Resource": {"Fn::Sub": "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:vpc-endpoint/*"}}]))
# Consumer side: endpoints, security groups and tags of links.
endpoint_arn = "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:vpc-endpoint/*"
group_arn = "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:security-group/*"
link_tag = {"Null": {"aws:ResourceTag/privatelink-autowire:link-id": "false"}}
variant("link_ec2_writes_never_on_every_resource", "star",
        add_policy([{"Effect": "Allow", "Action": "ec2:DeleteVpcEndpoints", "Resource": "*", "Condition": link_tag}]))
variant("link_ec2_writes_never_on_every_resource", "template-create-star", widen("ec2:CreateVpcEndpoint"))
variant("link_ec2_writes_never_on_every_resource", "template-groups-star", widen("ec2:AuthorizeSecurityGroupIngress"))
variant("link_ec2_writes_never_on_every_resource", "template-tags-star", widen("ec2:CreateTags"))
variant("link_ec2_resources_created_tagged", "untagged-endpoints", strip_conditions("ec2:CreateVpcEndpoint"))
variant("link_ec2_resources_created_tagged", "endpoint-among-networks",
        add_resource_to_unconditioned("ec2:CreateVpcEndpoint", endpoint_arn))
variant("link_ec2_resources_created_tagged", "untagged-groups", strip_conditions("ec2:CreateSecurityGroup"))
variant("link_ec2_resources_changed_only_when_tagged", "any-endpoint", strip_conditions("ec2:DeleteVpcEndpoints"))
variant("link_ec2_resources_changed_only_when_tagged", "endpoint-among-members",
        add_resource_to_unconditioned("ec2:ModifyVpcEndpoint", endpoint_arn))
variant("link_ec2_resources_changed_only_when_tagged", "any-group", strip_conditions("ec2:DeleteSecurityGroup"))
variant("link_ec2_resources_changed_only_when_tagged", "other-tag-key",
        add_policy([{"Effect": "Allow", "Action": "ec2:RevokeSecurityGroupIngress", "Resource": {"Fn::Sub": group_arn},
                     "Condition": {"Null": {"aws:RequestTag/privatelink-autowire:link-id": "false"}}}]))
variant("ec2_tags_only_while_creating_or_on_tagged", "any-resource",
        add_policy([{"Effect": "Allow", "Action": "ec2:CreateTags", "Resource": {"Fn::Sub": endpoint_arn}}]))
variant("ec2_tags_only_while_creating_or_on_tagged", "template-unconditioned", strip_conditions("ec2:CreateTags"))
variant("zone_deletes_never_on_every_resource", "star",
        add_policy([{"Effect": "Allow", "Action": "route53:DeleteHostedZone", "Resource": "*"}]))
variant("zone_deletes_never_on_every_resource", "template-star", widen("route53:DeleteHostedZone"))
variant("zones_created_private_only", "public-zones", strip_conditions("route53:CreateHostedZone"))
variant("dns_changes_limited_by_record_type", "template-any-record", strip_conditions("route53:ChangeResourceRecordSets"))
variant("dns_changes_limited_by_record_type", "conditional-no-null",
        add_conditional_policy([{"Effect": "Allow", "Action": "route53:ChangeResourceRecordSets",
                                 "Resource": "arn:aws:route53:::hostedzone/Z1",
                                 "Condition": {"ForAllValues:StringEquals": {
                                     "route53:ChangeResourceRecordSetsRecordTypes": ["CNAME"]}}}]))
variant("lambda_invokes_never_on_every_resource", "star",
        add_policy_resource([{"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": "*"}]))
variant("lambda_invokes_never_on_every_resource", "template-star", widen("lambda:InvokeFunction"))
# The probe: the function in a VPC, its role and its security group.
vpc_functions = [k for k in functions if "VpcConfig" in resources[k]["Properties"]]
if not vpc_functions:
    sys.exit("self-test needs a Lambda function in a VPC (the probe) in the template")
vpc_fn = vpc_functions[0]
vpc_role = resources[vpc_fn]["Properties"]["Role"]["Fn::GetAtt"][0]
vpc_group = resources[vpc_fn]["Properties"]["VpcConfig"]["SecurityGroupIds"][0]["Fn::GetAtt"][0]

def add_role_policy(role_id, statement, conditional=False):
    def change(r):
        policy = {"PolicyName": "bad", "PolicyDocument": {"Version": "2012-10-17", "Statement": statement}}
        if conditional:
            policy = {"Fn::If": ["SomeCondition", policy, {"Ref": "AWS::NoValue"}]}
        r[role_id]["Properties"].setdefault("Policies", []).append(policy)
    return change

def add_vpc_role_policy(statement, conditional=False):
    return add_role_policy(vpc_role, statement, conditional)

def add_resource(name, resource):
    return lambda r: r.__setitem__(name, resource)

def group_change(change):
    return lambda r: change(r[vpc_group]["Properties"])

def first_egress(key, value):
    def change(props):
        props["SecurityGroupEgress"][0][key] = value
    return group_change(change)

def egress_all_conditional(props):
    props["SecurityGroupEgress"] = [{"Fn::If": ["SomeCondition", e, {"Ref": "AWS::NoValue"}]}
                                    if "IpProtocol" in e else e for e in props["SecurityGroupEgress"]]

vpc_cidr = {"Fn::GetAtt": ["IsolatedExampleVpc", "CidrBlock"]}
variant("network_interface_writes_never_on_every_resource", "template-delete-star", widen("ec2:DeleteNetworkInterface"))
variant("network_interface_writes_never_on_every_resource", "template-create-star", widen("ec2:CreateNetworkInterface"))
variant("network_interface_writes_never_on_every_resource", "policy-star",
        add_policy_resource([{"Effect": "Allow", "Action": "ec2:AssignPrivateIpAddresses", "Resource": "*"}]))
variant("vpc_function_roles_only_network_logs_xray", "ssm-read",
        add_vpc_role_policy([{"Effect": "Allow", "Action": "ssm:GetParameter",
                              "Resource": {"Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/x"}}]))
variant("vpc_function_roles_only_network_logs_xray", "conditional-s3",
        add_vpc_role_policy({"Effect": "Allow", "Action": ["logs:PutLogEvents", "s3:GetObject"],
                             "Resource": "arn:aws:s3:::bucket/*"}, conditional=True))
variant("vpc_function_roles_only_network_logs_xray", "not-action",
        add_vpc_role_policy([{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}]))
variant("vpc_function_roles_only_network_logs_xray", "managed-policy",
        lambda r: r[vpc_role]["Properties"].__setitem__(
            "ManagedPolicyArns", ["arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"]))
variant("vpc_function_roles_only_network_logs_xray", "attached-policy",
        add_resource("BadPolicy", {"Type": "AWS::IAM::Policy", "Properties": {
            "PolicyName": "bad", "Roles": [{"Ref": vpc_role}],
            "PolicyDocument": {"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "arn:aws:sqs:us-east-1:111111111111:q"}]}}}))
variant("vpc_function_roles_only_network_logs_xray", "role-from-outside",
        lambda r: r[vpc_fn]["Properties"].__setitem__("Role", "arn:aws:iam::111111111111:role/anything"))
variant("security_group_egress_stated_and_narrow", "default-egress",
        group_change(lambda p: p.pop("SecurityGroupEgress")))
variant("security_group_egress_stated_and_narrow", "all-conditional", group_change(egress_all_conditional))
variant("security_group_egress_stated_and_narrow", "everywhere", first_egress("CidrIp", "0.0.0.0/0"))
variant("security_group_egress_stated_and_narrow", "wider-than-a-vpc", first_egress("CidrIp", "10.0.0.0/8"))
variant("security_group_egress_stated_and_narrow", "all-protocols", first_egress("IpProtocol", "-1"))
variant("security_group_egress_stated_and_narrow", "conditional-ipv6-everywhere",
        group_change(lambda p: p["SecurityGroupEgress"].append({"Fn::If": [
            "SomeCondition", {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "CidrIpv6": "::/0"},
            {"Ref": "AWS::NoValue"}]})))
variant("security_group_egress_stated_and_narrow", "egress-resource",
        add_resource("BadEgress", {"Type": "AWS::EC2::SecurityGroupEgress", "Properties": {
            "GroupId": {"Fn::GetAtt": [vpc_group, "GroupId"]}, "IpProtocol": "tcp",
            "FromPort": 0, "ToPort": 65535, "CidrIp": "0.0.0.0/0"}}))
variant("vpc_function_groups_no_ingress", "inline",
        group_change(lambda p: p.__setitem__("SecurityGroupIngress", [
            {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "CidrIp": vpc_cidr}])))
variant("vpc_function_groups_no_ingress", "ingress-resource",
        add_resource("BadIngress", {"Type": "AWS::EC2::SecurityGroupIngress", "Properties": {
            "GroupId": {"Fn::GetAtt": [vpc_group, "GroupId"]}, "IpProtocol": "tcp",
            "FromPort": 443, "ToPort": 443, "CidrIp": vpc_cidr}}))
variant("vpc_function_groups_no_ingress", "group-from-outside",
        lambda r: r[vpc_fn]["Properties"]["VpcConfig"].__setitem__("SecurityGroupIds", ["sg-0123456789abcdef0"]))
# The reconciler: its role, its rules, its dead letters, its event bus and its topic.
reconciler_fns = [k for k in functions
                  if resources[k].get("Metadata", {}).get("BuildProperties", {}).get("Binary") == "reconciler"]
if not reconciler_fns:
    sys.exit("self-test needs the reconciler function (BuildProperties.Binary: reconciler) in the template")
rec_fn = reconciler_fns[0]
rec_role = resources[rec_fn]["Properties"]["Role"]["Fn::GetAtt"][0]
rec_shared = [a["Ref"] if "Ref" in a else a["Fn::If"][1]["Ref"]
              for a in resources[rec_role]["Properties"].get("ManagedPolicyArns", [])
              if "Ref" in a or a.get("Fn::If", [None, {}])[1].get("Ref", "AWS::NoValue") != "AWS::NoValue"]
if not rec_shared:
    sys.exit("self-test needs a managed policy of this template on the reconciler's role")

def of_type(r, kind):
    return [k for k, v in r.items() if v["Type"] == kind]

def targets_reconciler(res):
    return res["Type"] == "AWS::Events::Rule" and any(
        t.get("Arn", {}).get("Fn::GetAtt", [None])[0] == rec_fn for t in res["Properties"].get("Targets", []))

def each_target_of(rule_id, change):
    def apply(r):
        for target in r[rule_id]["Properties"]["Targets"]:
            change(target)
    return apply

def first_of(kind, change, pick=lambda res: True):
    def apply(r):
        hits = [k for k in of_type(r, kind) if pick(r[k])]
        if not hits:
            sys.exit(f"self-test: no {kind} to change")
        change(r[hits[0]]["Properties"])
    return apply

def add_shared_statement(statement):
    def change(r):
        r[rec_shared[0]]["Properties"]["PolicyDocument"]["Statement"].append(statement)
    return change

links_arn = {"Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/privatelink-autowire/links/*"}
probe_arn = {"Fn::Sub": "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:${AWS::StackName}-probe"}
variant("reconciler_role_no_invocations_no_ssm_writes", "inline-invoke",
        add_role_policy(rec_role, [{"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": probe_arn}]))
variant("reconciler_role_no_invocations_no_ssm_writes", "conditional-put",
        add_role_policy(rec_role, {"Effect": "Allow", "Action": ["ssm:GetParameter", "SSM:PutParameter"],
                                   "Resource": links_arn}, conditional=True))
variant("reconciler_role_no_invocations_no_ssm_writes", "not-action",
        add_role_policy(rec_role, [{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}]))
variant("reconciler_role_no_invocations_no_ssm_writes", "shared-policy-delete",
        add_shared_statement({"Effect": "Allow", "Action": "ssm:DeleteParameter", "Resource": links_arn}))
variant("reconciler_role_no_invocations_no_ssm_writes", "attached-policy",
        add_resource("BadPolicy", {"Type": "AWS::IAM::Policy", "Properties": {
            "PolicyName": "bad", "Roles": [{"Ref": rec_role}],
            "PolicyDocument": {"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "ssm:GetParameter", "Resource": links_arn}]}}}))
variant("reconciler_role_no_invocations_no_ssm_writes", "aws-managed-policy",
        lambda r: r[rec_role]["Properties"]["ManagedPolicyArns"].append("arn:aws:iam::aws:policy/AmazonSSMFullAccess"))
variant("event_rule_writes_only_on_rules_of_this_template", "template-star", widen("events:PutTargets"))
variant("event_rule_writes_only_on_rules_of_this_template", "template-any-target", strip_conditions("events:PutTargets"))
variant("event_rule_writes_only_on_rules_of_this_template", "pattern",
        add_policy([{"Effect": "Allow", "Action": "events:PutTargets",
                     "Resource": {"Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/*"},
                     "Condition": {"ArnEquals": {"events:TargetArn": probe_arn}}}]))
variant("event_rule_writes_only_on_rules_of_this_template", "not-a-rule",
        add_conditional_policy([{"Effect": "Allow", "Action": ["events:ListTargetsByRule", "events:RemoveTargets"],
                                 "Resource": {"Fn::GetAtt": [rec_fn, "Arn"]}}]))
for rule_id in [k for k, v in resources.items() if targets_reconciler(v)]:
    variant("reconciler_events_have_a_dead_letter_queue", f"{rule_id}-without-dlq",
            each_target_of(rule_id, lambda t: t.pop("DeadLetterConfig", None)))
    variant("reconciler_events_have_a_dead_letter_queue", f"{rule_id}-without-retry-policy",
            each_target_of(rule_id, lambda t: t.pop("RetryPolicy", None)))
of_reconciler = lambda res: res["Properties"].get("FunctionName") == {"Ref": rec_fn}
variant("reconciler_events_have_a_dead_letter_queue", "no-on-failure-destination",
        first_of("AWS::Lambda::EventInvokeConfig", lambda p: p.pop("DestinationConfig"), of_reconciler))
variant("reconciler_events_have_a_dead_letter_queue", "no-invoke-config",
        lambda r: [r.pop(k) for k in of_type(r, "AWS::Lambda::EventInvokeConfig") if of_reconciler(r[k])])
variant("reconciler_events_have_a_dead_letter_queue", "subscription-without-redrive",
        first_of("AWS::SNS::Subscription", lambda p: p.pop("RedrivePolicy")))
# The bus: its policy's statements (behind Fn::If, as the template has them) with the
# organization's condition gone or opened to everyone; a whole policy for everyone; and policy
# resources for everyone, in their older form and with a Statement.
bus = of_type(resources, "AWS::Events::EventBus")[0]

def if_branches(node, key):
    """`node` itself when it has `key`, else the branches of its Fn::If that have it."""
    return [node] if key in node else [b for b in node.get("Fn::If", [])[1:] if isinstance(b, dict) and key in b]

def bus_statement(pick, change):
    def apply(r):
        hits = [s for doc in if_branches(r[bus]["Properties"].get("Policy", {}), "Statement")
                for entry in doc["Statement"] for s in if_branches(entry, "Effect") if pick(s)]
        if not hits:
            sys.exit("self-test: no such statement in the event bus's policy")
        for s in hits:
            change(s)
    return apply

def bus_policy_resource(properties):
    return add_resource("BadBusPolicy", {"Type": "AWS::Events::EventBusPolicy", "Properties": dict(
        {"EventBusName": {"Ref": bus}, "StatementId": "bad"}, **properties)})

open_to_all = {"Effect": "Allow", "Principal": "*", "Action": "events:PutEvents", "Resource": {"Fn::GetAtt": [bus, "Arn"]}}
variant("event_bus_policies_never_open_to_everyone", "org-without-condition",
        bus_statement(lambda s: s["Principal"] == "*", lambda s: s.pop("Condition")))
variant("event_bus_policies_never_open_to_everyone", "accounts-opened",
        bus_statement(lambda s: "AWS" in s["Principal"],
                      lambda s: s["Principal"].__setitem__("AWS", ["111111111111", "*"])))
variant("event_bus_policies_never_open_to_everyone", "bus-policy-star",
        lambda r: r[bus]["Properties"].__setitem__("Policy", {"Version": "2012-10-17", "Statement": [
            dict(open_to_all, Principal={"AWS": "*"})]}))
variant("event_bus_policies_never_open_to_everyone", "legacy-star",
        bus_policy_resource({"Action": "events:PutEvents", "Principal": "*"}))
variant("event_bus_policies_never_open_to_everyone", "statement-star",
        bus_policy_resource({"Statement": open_to_all}))
# The topic: anyone, another account, another service, any account's services, more than Publish,
# and a second policy beside the template's.
def topic_statement(change):
    return first_of("AWS::SNS::TopicPolicy", lambda p: [change(s) for s in p["PolicyDocument"]["Statement"]])
variant("topics_published_to_only_by_vpce_of_this_account", "star",
        topic_statement(lambda s: s.__setitem__("Principal", "*")))
variant("topics_published_to_only_by_vpce_of_this_account", "account-principal",
        topic_statement(lambda s: s["Principal"].__setitem__("AWS", "arn:aws:iam::111111111111:root")))
variant("topics_published_to_only_by_vpce_of_this_account", "other-service",
        topic_statement(lambda s: s["Principal"].__setitem__("Service", ["vpce.amazonaws.com", "events.amazonaws.com"])))
variant("topics_published_to_only_by_vpce_of_this_account", "any-account",
        topic_statement(lambda s: s.pop("Condition")))
variant("topics_published_to_only_by_vpce_of_this_account", "subscribe",
        topic_statement(lambda s: s.__setitem__("Action", ["SNS:Publish", "SNS:Subscribe"])))
variant("topics_published_to_only_by_vpce_of_this_account", "inline-policy",
        add_resource("BadTopicPolicy", {"Type": "AWS::SNS::TopicInlinePolicy", "Properties": {
            "TopicArn": {"Ref": of_type(resources, "AWS::SNS::Topic")[0]},
            "PolicyDocument": {"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "sns:Publish",
                 "Resource": "*"}]}}}))
# Record names: alias writes carry their names; the provider's two exact shapes.
names_key = "route53:ChangeResourceRecordSetsNormalizedRecordNames"
types_key = "route53:ChangeResourceRecordSetsRecordTypes"
actions_key = "route53:ChangeResourceRecordSetsActions"

def record_statements(pick):
    """The template's own statements allowing ChangeResourceRecordSets that `pick` chooses."""
    def each(r):
        hits = [st for st in role_statements(r)
                if "route53:ChangeResourceRecordSets" in ([st["Action"]] if isinstance(st.get("Action"), str) else st.get("Action", []))
                and pick(st)]
        if not hits:
            sys.exit("self-test: no such route53:ChangeResourceRecordSets statement in the template")
        return hits
    return each

def names_of(st):
    return st.get("Condition", {}).get("ForAllValues:StringLike", {}).get(names_key)

def types_of(st):
    return st.get("Condition", {}).get("ForAllValues:StringEquals", {}).get(types_key, [])

def change_records(pick, change):
    def apply(r):
        for st in record_statements(pick)(r):
            change(st)
    return apply

alias_writes = lambda st: isinstance(names_of(st), dict)
txt_writes = lambda st: "TXT" in types_of(st)
validation_writes = lambda st: isinstance(names_of(st), list) and "CNAME" in types_of(st)

def drop_names(st):
    st["Condition"]["ForAllValues:StringLike"].pop(names_key)
    if not st["Condition"]["ForAllValues:StringLike"]:
        st["Condition"].pop("ForAllValues:StringLike")
    st["Condition"].get("Null", {}).pop(names_key, None)

zone_arn = "arn:aws:route53:::hostedzone/Z1"
variant("dns_changes_name_their_records", "alias-any-name", change_records(alias_writes, drop_names))
variant("dns_changes_name_their_records", "literal-wildcard",
        add_policy([{"Effect": "Allow", "Action": "route53:ChangeResourceRecordSets", "Resource": zone_arn,
                     "Condition": {"ForAllValues:StringEquals": {types_key: ["CNAME"]},
                                   "ForAllValues:StringLike": {names_key: ["*"]},
                                   "Null": {types_key: "false", names_key: "false"}}}]))
variant("dns_changes_name_their_records", "any-underscore-name",
        change_records(txt_writes, lambda st: st["Condition"]["ForAllValues:StringLike"].__setitem__(names_key, ["_*"])))
variant("dns_provider_records_exact", "txt-with-cname",
        change_records(txt_writes, lambda st: types_of(st).append("CNAME")))
variant("dns_provider_records_exact", "cname-with-verification-names",
        change_records(validation_writes, lambda st: st["Condition"]["ForAllValues:StringLike"].__setitem__(
            names_key, ["_" + "?" * 20 + ".*"])))
variant("dns_provider_records_exact", "validation-without-not-like",
        change_records(validation_writes, lambda st: st["Condition"].pop("ForAllValues:StringNotLike")))
variant("dns_provider_records_exact", "txt-create",
        change_records(txt_writes, lambda st: st["Condition"]["ForAllValues:StringEquals"][actions_key].append("CREATE")))
variant("dns_provider_records_exact", "validation-any-action",
        change_records(validation_writes, lambda st: (st["Condition"]["ForAllValues:StringEquals"].pop(actions_key),
                                                      st["Condition"]["Null"].pop(actions_key))))
# The provider's opt-in tag on endpoint services and listeners.
service_arn = {"Fn::Sub": "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:vpc-endpoint-service/*"}
variant("provider_writes_need_the_opt_in_tag", "service-permissions",
        strip_conditions("ec2:ModifyVpcEndpointServicePermissions"))
variant("provider_writes_need_the_opt_in_tag", "listeners", strip_conditions("elasticloadbalancing:ModifyListener"))
variant("provider_writes_need_the_opt_in_tag", "reconciler-accepts", strip_conditions("ec2:AcceptVpcEndpointConnections"))
variant("provider_writes_need_the_opt_in_tag", "other-tag",
        add_policy([{"Effect": "Allow", "Action": "ec2:ModifyVpcEndpointServiceConfiguration", "Resource": service_arn,
                     "Condition": {"StringEquals": {"aws:ResourceTag/team": "true"}}}]))
# Certificate tags: only the owner keys, only with a stack ARN, never removed.
certificate_arn = {"Fn::Sub": "arn:${AWS::Partition}:acm:${AWS::Region}:${AWS::AccountId}:certificate/*"}

def add_tag_key(action, key):
    def change(r):
        hits = [st for st in role_statements(r) if st.get("Action") == action or action in st.get("Action", [])]
        if not hits:
            sys.exit(f"self-test: no statement in the template allows {action}")
        for st in hits:
            st["Condition"]["ForAllValues:StringEquals"]["aws:TagKeys"].append(key)
    return change

variant("certificate_tags_only_the_owner_tags", "add-any-tag", strip_conditions("acm:AddTagsToCertificate"))
variant("certificate_tags_only_the_owner_tags", "request-with-other-tag", add_tag_key("acm:RequestCertificate", "Name"))
variant("certificate_tags_only_the_owner_tags", "untag",
        add_policy([{"Effect": "Allow", "Action": "acm:RemoveTagsFromCertificate", "Resource": certificate_arn}]))
# Consumers: endpoints and descriptors only from trusted providers.
def any_service_owner(r):
    hits = [st for st in role_statements(r)
            if "ec2:VpceServiceOwner" in st.get("Condition", {}).get("StringEquals", {})]
    if not hits:
        sys.exit("self-test: no statement names ec2:VpceServiceOwner")
    for st in hits:
        st["Condition"].pop("StringEquals")
        st["Condition"]["StringNotEquals"] = {"ec2:VpceServiceOwner": ["amazon", "aws-marketplace"]}

variant("link_endpoints_and_descriptors_only_from_trusted_providers", "any-service-owner", any_service_owner)
variant("link_endpoints_and_descriptors_only_from_trusted_providers", "any-account-descriptors",
        strip_conditions("ssm:GetParameters"))
# Names: no FunctionName; rule, queue and role names not from the stack name.
schedule_rule = [k for k in of_type(resources, "AWS::Events::Rule") if "ScheduleExpression" in resources[k]["Properties"]][0]
variant("lambda_functions_have_no_fixed_name", "reconciler-named",
        set_prop(rec_fn, "FunctionName", {"Fn::Sub": "${AWS::StackName}-reconciler"}))
variant("names_not_built_from_the_stack_name", "rule-sub",
        set_prop(schedule_rule, "Name", {"Fn::Sub": "${AWS::StackName}-schedule"}))
variant("names_not_built_from_the_stack_name", "rule-sub-list",
        set_prop(schedule_rule, "Name", {"Fn::Sub": ["${AWS::StackName}-${X}", {"X": "schedule"}]}))
variant("names_not_built_from_the_stack_name", "role-join",
        set_prop(rec_role, "RoleName", {"Fn::Join": ["-", [{"Ref": "AWS::StackName"}, "reconciler"]]}))
variant("names_not_built_from_the_stack_name", "queue-ref",
        set_prop(of_type(resources, "AWS::SQS::Queue")[0], "QueueName", {"Ref": "AWS::StackName"}))
PY
    # Each variant against the policy file that holds its rule, the variants side by side.
    self_test() {
        local bad="$1" name rule file
        name="$(basename "$bad" .json)"; rule="${name%%--*}"
        file="$(grep -lE "^rule ${rule}([[:space:]({]|$)" policies/*.guard | head -n1)"
        if [[ -z "$file" ]]; then
            echo "NORULE $name"
        elif "$guard" validate --rules "$file" --data "$bad" --show-summary fail >"$bad.out" 2>&1; then
            echo "PASSED $name"
        elif ! grep -Eq "/${rule}[[:space:]]+FAIL" "$bad.out"; then
            echo "OTHER $name"
        else
            echo "ok $name"
        fi
    }
    export -f self_test
    export guard
    find "$tmp/bad" -name '*.json' -print0 | sort -z \
        | xargs -0 -P "$(nproc 2>/dev/null || echo 2)" -I{} bash -c 'self_test "$1"' _ {} \
        | sort -k2 >"$tmp/self-test.txt"
    while read -r result name; do
        case "$result" in
            ok) printf 'ok  %s\n' "$name" ;;
            PASSED) fail "cfn-guard self-test: $name passed" ;;
            OTHER) fail "cfn-guard self-test: $name failed, but not by rule ${name%%--*}" ;;
            *) fail "cfn-guard self-test: $name: no rule ${name%%--*} in policies/*.guard" ;;
        esac
    done <"$tmp/self-test.txt"
    printf 'cfn-guard self-test: %s known-bad variants, %s rejected by their rule\n' \
        "$(find "$tmp/bad" -name '*.json' | wc -l)" "$(grep -c '^ok ' "$tmp/self-test.txt" || true)"
fi

# ---- 5: checkov ---------------------------------------------------------------------------
checkov="" lint_python=""
if [[ -n "$lint_venv" && -x "$lint_venv/bin/checkov" ]]; then
    checkov="$lint_venv/bin/checkov"
    lint_python="$lint_venv/bin/python"
elif command -v checkov >/dev/null 2>&1; then
    checkov="$(command -v checkov)"
    lint_python="$(dirname "$checkov")/python"
fi
# checkov_report FILE MIN_PASSED: zero failed checks, every waiver with its reason, and at least
# MIN_PASSED passed checks (a template of nested stacks and custom resources alone has none that
# checkov knows).
checkov_report() {
    local report="$tmp/checkov-$(basename "$(dirname "$1")")-$(basename "$1").json"
    # --skip-download: offline (no guideline links or severities from the vendor's service).
    "$checkov" --file "$1" --framework cloudformation --skip-download --output json \
        >"$report" 2>"$report.err" || true
    if ! python3 - "$report" "$2" <<'PY'
import json, sys
with open(sys.argv[1], encoding="utf-8") as f:
    text = f.read()
try:
    report = json.loads(text)
except ValueError:
    sys.exit("checkov gave no JSON report")
reports = report if isinstance(report, list) else [report]
passed = failed = skipped = errors = 0
for r in reports:
    summary = r.get("summary", {})
    passed += summary.get("passed", 0)
    failed += summary.get("failed", 0)
    skipped += summary.get("skipped", 0)
    errors += summary.get("parsing_errors", 0)
    for c in r.get("results", {}).get("failed_checks", []):
        print(f"  FAILED  {c['check_id']} {c['resource']}: {c['check_name']}")
    for c in r.get("results", {}).get("skipped_checks", []):
        reason = (c.get("check_result") or {}).get("suppress_comment", "")
        print(f"  waived  {c['check_id']} {c['resource']}: {reason}")
        if not reason or reason == "No comment provided":
            print(f"  FAILED  waiver of {c['check_id']} on {c['resource']} has no reason")
            failed += 1
print(f"checkov: {passed} passed, {failed} failed, {skipped} skipped (waived in place), {errors} parsing errors")
sys.exit(1 if failed or errors or passed < int(sys.argv[2]) else 0)
PY
    then
        sed -n '1,20p' "$report.err" >&2
        return 1
    fi
}
if [[ -z "$checkov" ]]; then
    missing checkov "run 'make linters'"
else
    step "checkov $("$checkov" --version): $template"
    checkov_report "$template" 1 || fail "checkov"
fi

# ---- 6: parliament over every IAM policy document ---------------------------------------------
# Findings allowed here, each with its reason. RESOURCE_MISMATCH is parliament's "no resource of
# this statement fits every resource type of the action"; AWS's own pattern for actions that
# touch several resources (CreateVpcEndpoint: the endpoint, its VPC, subnets and groups) splits
# them over statements, each with the conditions its resources support, so each half alone is a
# mismatch. An entry that no longer matches a finding is an error: the list stays exact.
cat >"$tmp/parliament-allow.json" <<'JSON'
[
 {"issue": "RESOURCE_MISMATCH", "policy": "LinkPolicy--policy", "action": "ec2:CreateVpcEndpoint",
  "format": "arn:*:ec2:*:*:vpc/*",
  "reason": "split-statement pattern: CreateLinkTaggedEndpointsToTrustedProviders holds the vpc-endpoint (tag and service owner conditions), CreateEndpointsInThisAccountsNetworks the VPC, subnets and groups"},
 {"issue": "RESOURCE_MISMATCH", "policy": "LinkPolicy--policy", "action": "ec2:CreateVpcEndpoint",
  "format": "arn:*:ec2:*:*:vpc-endpoint/*",
  "reason": "split-statement pattern: the other half of the CreateVpcEndpoint pair above"},
 {"issue": "RESOURCE_MISMATCH", "policy": "LinkPolicy--policy", "action": "ec2:ModifyVpcEndpoint",
  "format": "arn:*:ec2:*:*:vpc-endpoint/*",
  "reason": "split-statement pattern: MoveLinkEndpointsBetweenSubnetsAndGroups holds the subnets and groups a modify adds or removes, ChangeAndDeleteOnlyLinkEndpoints the link-tagged endpoint"},
 {"issue": "RESOURCE_MISMATCH", "policy": "LinkPolicy--policy", "action": "ec2:CreateSecurityGroup",
  "format": "arn:*:ec2:*:*:security-group/*",
  "reason": "split-statement pattern: CreateGroupsInThisAccountsVpcs holds the VPC, CreateLinkTaggedGroups the new group with its link-id tag condition"},
 {"issue": "RESOURCE_MISMATCH", "policy": "LinkPrivateZonesPolicy--policy", "action": "route53:ChangeTagsForResource",
  "format": "arn:*:route53:::healthcheck/*",
  "reason": "hostedzone and healthcheck are alternative resource types of ChangeTagsForResource (a call names one); the function tags hosted zones only"},
 {"issue": "RESOURCE_MISMATCH", "policy": "ProviderRole--listener-certificates", "action": "elasticloadbalancing:AddListenerCertificates",
  "format": "arn:*:elasticloadbalancing:*:*:listener/app/*/*/*",
  "reason": "listener/app and listener/net are alternative resource types (a call names one listener); the role is limited to Network Load Balancer listeners on purpose"},
 {"issue": "RESOURCE_MISMATCH", "policy": "ProviderRole--listener-certificates", "action": "elasticloadbalancing:RemoveListenerCertificates",
  "format": "arn:*:elasticloadbalancing:*:*:listener/app/*/*/*",
  "reason": "as for AddListenerCertificates: Network Load Balancer listeners only, on purpose"},
 {"issue": "RESOURCE_MISMATCH", "policy": "ProviderRole--listener-certificates", "action": "elasticloadbalancing:ModifyListener",
  "format": "arn:*:elasticloadbalancing:*:*:listener/app/*/*/*",
  "reason": "as for AddListenerCertificates: Network Load Balancer listeners only, on purpose"},
 {"issue": "RESOURCE_MISMATCH", "policy": "ReconcilerRole--consumer-certificates", "action": "elasticloadbalancing:AddListenerCertificates",
  "format": "arn:*:elasticloadbalancing:*:*:listener/app/*/*/*",
  "reason": "as for the provider role: consumers' certificates go on Network Load Balancer listeners only, on purpose"},
 {"issue": "RESOURCE_MISMATCH", "policy": "ReconcilerRole--consumer-certificates", "action": "elasticloadbalancing:RemoveListenerCertificates",
  "format": "arn:*:elasticloadbalancing:*:*:listener/app/*/*/*",
  "reason": "as for AddListenerCertificates: Network Load Balancer listeners only, on purpose"},
 {"issue": "PERMISSIONS_MANAGEMENT_ACTIONS", "policy": "ProviderRole--endpoint-services", "action": "ec2:ModifyVpcEndpointServicePermissions",
  "reason": "ManagePrincipals: a publication adds its AllowedAccounts to the service's allowed principals (and removes only those it added); only on services tagged privatelink-autowire:managed=true"}
]
JSON
if ! $have_transformed; then
    fail "parliament not run: no transformed template"
elif [[ -z "$lint_python" ]] || ! "$lint_python" -c 'import parliament' >/dev/null 2>&1; then
    missing parliament "run 'make linters'"
else
    step "parliament: every IAM policy document of the transformed template"
    python3 scripts/template_checks.py iam-docs "$transformed" "$tmp/iam" || fail "rendering the IAM policy documents"
    "$lint_python" scripts/template_checks.py parliament "$tmp/iam" "$tmp/parliament-allow.json" \
        || fail "parliament"
fi

# ---- 7: names within AWS's limits at a 128-character stack name --------------------------------
if $have_transformed; then
    step "name limits: the template rendered with a 128-character stack name"
    python3 scripts/template_checks.py names "$transformed" || fail "name limits"
else
    fail "name limits not checked: no transformed template"
fi

# ---- 8: the examples (examples/*/*.yaml) --------------------------------------------------------
# Each example template nests template.yaml (AWS::Serverless::Application, Location
# ../../template.yaml) and declares a write-up's own infrastructure and the custom resources. It
# gets the checks above that look at what it declares: sam validate --lint, cfn-lint with the
# serverless rules (on it and on its transform), cfn-guard with policies/*.guard (on its
# transform) and checkov (zero failed checks, waivers in place with their reasons; a template of
# the nested product and custom resources alone has no resource checkov knows). Not run on them:
# the cfn-guard self-test, parliament and the name limits render the product's own functions,
# roles and names, which each example only nests and which steps 4, 6 and 7 check above; the
# examples have no IAM policy and name nothing after the stack.
# The transform goes to $tmp/examples/<example>/, beside a link $tmp/template.yaml to the
# product, so that cfn-lint finds the nested template by the same relative Location and checks
# the parameters each example passes it (E3043).
ln -s "$PWD/template.yaml" "$tmp/template.yaml"
for example in examples/*/*.yaml; do
    [[ -e "$example" ]] || continue
    step "example $example"
    if command -v sam >/dev/null 2>&1; then
        sam validate --lint --region "$REGION" --template-file "$example" \
            || fail "sam validate --lint $example"
    fi
    example_out="$tmp/$(dirname "$example")/$(basename "$example" .yaml).json"
    mkdir -p "$(dirname "$example_out")"
    example_transformed=false
    if [[ -n "$sam_python" ]]; then
        if sam_transform "$example" "$example_out"; then
            example_transformed=true
        else
            fail "SAM transform $example"
        fi
    fi
    if $have_cfn_lint; then
        cfn-lint --config-file .cfnlintrc.yaml --non-zero-exit-code informational -- "$example" \
            || fail "cfn-lint $example"
        # W3002 (a local TemplateURL works only with `package`): the transform keeps the nested
        # application's Location as it is, and sam build / sam package replace it with the S3 URL
        # of the uploaded product, which is how the examples deploy.
        if $example_transformed; then
            cfn-lint --config-file .cfnlintrc.yaml --non-zero-exit-code informational \
                --ignore-checks W3002 -- "$example_out" || fail "cfn-lint (transformed) $example"
        fi
    fi
    if [[ -n "$guard" ]] && $example_transformed; then
        if "$guard" validate --rules policies --data "$example_out" --show-summary fail; then
            echo "cfn-guard: no rule of policies/*.guard fails"
        else
            fail "cfn-guard $example"
        fi
    fi
    if [[ -n "$checkov" ]]; then
        checkov_report "$example" 0 || fail "checkov $example"
    fi
done

echo
if ((${#failures[@]})); then
    printf 'check-template: %d check(s) failed:\n' "${#failures[@]}" >&2
    printf '  - %s\n' "${failures[@]}" >&2
    exit 1
fi
if ((${#skipped[@]})); then
    echo "check-template: no findings, but skipped for missing tools: ${skipped[*]}"
else
    echo "check-template: all checks passed"
fi
