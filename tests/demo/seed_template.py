"""The example templates as `make demo-seeds` reads them: YAML with CloudFormation's short tags,
their parameters checked against what each template declares, and the intrinsic functions they
use resolved against what the demo created. Whatever an example says that the demo does not
know (a function, a resource it did not create, an attribute it has not got) fails the demo:
the examples and the demo cannot drift apart.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

import yaml

from demo_output import expect

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
PRODUCT = ROOT / "template.yaml"
NO_VALUE = object()  # AWS::NoValue: the key or list item is left out
LIST_TYPES = ("CommaDelimitedList", "List<")


class _Loader(yaml.SafeLoader):
    """YAML 1.1 as CloudFormation reads it, with `!Ref x` as {"Ref": x}, `!GetAtt a.b` as
    {"Fn::GetAtt": ["a", "b"]}, `!Sub s` as {"Fn::Sub": s}, and so on."""


def _short_form(loader: _Loader, suffix: str, node: yaml.Node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix in ("Ref", "Condition"):
        return {suffix: value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_Loader.add_multi_constructor("!", _short_form)


def load(path: Path) -> dict:
    with open(path, encoding="utf-8") as f:
        return yaml.load(f, Loader=_Loader)  # noqa: S506 (a SafeLoader)


def _is_list(declared: dict) -> bool:
    return declared.get("Type", "String").startswith(LIST_TYPES)


def _check_one(name: str, value: str, declared: dict, where: str) -> None:
    allowed = declared.get("AllowedValues")
    expect(allowed is None or value in [str(v) for v in allowed],
           f"{where}: {name}={value!r} is not one of {allowed}")
    expect(len(value) <= int(declared.get("MaxLength", len(value))),
           f"{where}: {name} is longer than {declared.get('MaxLength')} characters")
    pattern = declared.get("AllowedPattern")
    expect(pattern is None or re.fullmatch(pattern, value) is not None,
           f"{where}: {name}={value!r} does not match {pattern}")
    if declared.get("Type") == "Number":
        number = float(value)
        expect(number >= declared.get("MinValue", number) and number <= declared.get(
            "MaxValue", number), f"{where}: {name}={value} is out of range")


def parameters(template: dict, given: dict, where: str) -> dict:
    """The template's parameter values: `given` (strings, or lists for list types) over the
    defaults, each checked against the template's constraints, as CloudFormation would."""
    declared = template.get("Parameters") or {}
    unknown = sorted(set(given) - set(declared))
    expect(not unknown, f"{where}: no parameter {unknown} in the template")
    values = {}
    for name, spec in declared.items():
        expect(name in given or "Default" in spec, f"{where}: parameter {name} has no value")
        raw = given.get(name, spec.get("Default"))
        if _is_list(spec):
            items = raw if isinstance(raw, list) else str(raw).split(",")
            for item in items:
                _check_one(name, str(item), spec, where)
            values[name] = [str(i) for i in items]
        else:
            _check_one(name, str(raw), spec, where)
            values[name] = str(raw)
    return values


def cidrs(block: str, count, bits) -> list[str]:
    """Fn::Cidr: the first `count` blocks of `bits` host bits in `block`."""
    net = ipaddress.ip_network(block)
    subnets = net.subnets(new_prefix=net.max_prefixlen - int(bits))
    return [str(s) for _, s in zip(range(int(count)), subnets)]


class Resolver:
    """Resolves intrinsic functions. `refs`: what Ref gives for each name (parameters, pseudo
    parameters, resources created so far); `atts`: {logical ID: {attribute: value}};
    `conditions`: the template's Conditions section; `azs`: the account's AZ names."""

    def __init__(self, refs: dict, atts: dict, azs: list[str], conditions: dict | None = None):
        self.refs, self.atts, self.azs = refs, atts, azs
        self.conditions = conditions or {}

    def __call__(self, node):
        if isinstance(node, list):
            return [v for v in (self(i) for i in node) if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, arg), = node.items()
            fn = self.FUNCTIONS.get(key)
            if fn is not None:
                return fn(self, arg)
        return {k: v for k, v in ((k, self(v)) for k, v in node.items()) if v is not NO_VALUE}

    def ref(self, name: str):
        if name == "AWS::NoValue":
            return NO_VALUE
        expect(name in self.refs, f"Ref {name}: nothing of that name has been created")
        return self.refs[name]

    def getatt(self, arg):
        name, attr = arg if isinstance(arg, list) else arg.split(".", 1)
        found = self.atts.get(name, {})
        expect(attr in found, f"GetAtt {name}.{attr}: the demo has no such attribute "
                              f"(it has {sorted(found)})")
        return found[attr]

    def sub(self, arg):
        text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], self(arg[1]))

        def one(m: re.Match) -> str:
            name = m.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in extra:
                return str(extra[name])
            if "." in name:
                return str(self.getatt(name))
            return str(self.ref(name))

        return re.sub(r"\$\{([^}]+)\}", one, text)

    def condition(self, name: str) -> bool:
        expect(name in self.conditions, f"Condition {name} is not in the template")
        return bool(self(self.conditions[name]))

    def fn_if(self, arg):
        name, yes, no = arg
        return self(yes) if self.condition(name) else self(no)

    FUNCTIONS = {
        "Ref": ref,
        "Fn::GetAtt": getatt,
        "Fn::Sub": sub,
        "Fn::If": fn_if,
        "Condition": condition,
        "Fn::Join": lambda self, a: str(a[0]).join(str(v) for v in self(a[1])),
        "Fn::Select": lambda self, a: self(a[1])[int(self(a[0]))],
        "Fn::Split": lambda self, a: str(self(a[1])).split(a[0]),
        "Fn::GetAZs": lambda self, a: list(self.azs),
        "Fn::Cidr": lambda self, a: cidrs(*self(a)),
        "Fn::Equals": lambda self, a: str(self(a[0])) == str(self(a[1])),
        "Fn::Not": lambda self, a: not self(a[0]),
        "Fn::And": lambda self, a: all(self(v) for v in a),
        "Fn::Or": lambda self, a: any(self(v) for v in a),
    }


def references(node) -> set[str]:
    """The names a node refers to (Ref, GetAtt, Sub variables): its possible dependencies."""
    found: set[str] = set()
    if isinstance(node, list):
        for item in node:
            found |= references(item)
    elif isinstance(node, dict):
        for key, arg in node.items():
            if key == "Ref":
                found.add(arg)
            elif key == "Fn::GetAtt":
                found.add(arg[0] if isinstance(arg, list) else arg.split(".", 1)[0])
            elif key == "Fn::Sub":
                text = arg if isinstance(arg, str) else arg[0]
                found |= {m.split(".", 1)[0] for m in re.findall(r"\$\{([^!}][^}]*)\}", text)}
                found |= references(arg[1]) if isinstance(arg, list) else set()
            else:
                found |= references(arg)
    return found


def creation_order(resources: dict) -> list[str]:
    """Logical IDs in an order CloudFormation could create them: each after what it references
    or DependsOn names; template order among the rest."""
    deps = {}
    for name, res in resources.items():
        depends = res.get("DependsOn", [])
        depends = [depends] if isinstance(depends, str) else depends
        deps[name] = (references(res.get("Properties", {})) | set(depends)) & set(resources)
    order: list[str] = []
    while len(order) < len(resources):
        ready = [n for n in resources if n not in order and deps[n] <= set(order)]
        expect(bool(ready), f"a dependency cycle among {sorted(set(resources) - set(order))}")
        order.append(ready[0])
    return order
