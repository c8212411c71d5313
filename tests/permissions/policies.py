"""The functions' IAM roles as CloudFormation would create them: the SAM-transformed template
(tools/sam_transform.py) with parameters, conditions, pseudo parameters, !Ref, !GetAtt, !Sub,
!Join, !Split, !Select and !If resolved, and IAM's own matching of actions, resources (wildcards
`*` and `?`) and the condition operators the template uses."""

from __future__ import annotations

import fnmatch
import json
import re
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TRANSFORMED = ROOT / ".aws-sam" / "transformed.json"
SAM_PYTHON = ROOT / ".tools" / "sam" / "bin" / "python"
ACCOUNT = "123456789012"  # moto's account: the ARNs the recorded calls name carry it
PARTITION = "aws"
FUNCTIONS = ("DispatchFunction", "WebhookFunction", "JobStateFunction")


class Unresolved(str):
    """A value the resolver could not bind: it matches no ARN and no condition."""


def transformed_template(target: Path = TRANSFORMED) -> dict[str, Any]:
    """The transformed template `make lint` writes; made here when missing (or stale)."""
    template = ROOT / "template.yaml"
    if not target.exists() or target.stat().st_mtime < template.stat().st_mtime:
        if not SAM_PYTHON.exists():
            raise FileNotFoundError(
                f"{SAM_PYTHON} is missing: run `make lint` once (it installs sam)"
            )
        subprocess.run(
            [str(SAM_PYTHON), str(ROOT / "tools" / "sam_transform.py"), str(template), str(target)],
            check=True,
            capture_output=True,
            cwd=ROOT,
        )
    loaded: dict[str, Any] = json.loads(target.read_text(encoding="utf-8"))
    return loaded


# --------------------------------------------------------------------------- resolution
def _arn(service: str, region: str, resource: str, account: str = ACCOUNT) -> str:
    return f"arn:{PARTITION}:{service}:{region}:{account}:{resource}"


@dataclass
class Resolver:
    """Evaluates intrinsic functions in one template for one region and set of bindings
    (what each logical resource's Ref / GetAtt is, as the recorded environment says)."""

    template: dict[str, Any]
    region: str = "eu-west-2"
    stack_name: str | None = None
    bindings: dict[str, str] = field(default_factory=dict)  # "Ref X" / "GetAtt X.Attr" -> value
    parameters: dict[str, Any] = field(default_factory=dict)  # overrides of the defaults

    def __post_init__(self) -> None:
        self._conditions: dict[str, bool] = {}

    # -- leaves
    def parameter(self, name: str) -> Any:
        spec = self.template.get("Parameters", {}).get(name)
        if spec is None:
            return None
        value = self.parameters.get(name, spec.get("Default", Unresolved(f"Ref {name}")))
        if str(spec.get("Type", "")).startswith(("List<", "CommaDelimitedList")) and isinstance(
            value, str
        ):
            return value.split(",")
        return value

    def ref(self, name: str) -> Any:
        pseudo = {
            "AWS::Region": self.region,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": PARTITION,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": self.stack_name or Unresolved("Ref AWS::StackName"),
        }
        if name in pseudo:
            return pseudo[name]
        if name == "AWS::NoValue":
            return _NO_VALUE
        value = self.parameter(name)
        if value is not None:
            return value
        return self.bindings.get(f"Ref {name}", Unresolved(f"Ref {name}"))

    def get_att(self, name: str, attribute: str) -> Any:
        bound = self.bindings.get(f"GetAtt {name}.{attribute}")
        if bound is not None:
            return bound
        kind = self.template.get("Resources", {}).get(name, {}).get("Type")
        ref = self.bindings.get(f"Ref {name}")
        if ref is not None and attribute == "Arn":
            if kind == "AWS::DynamoDB::Table":
                return _arn("dynamodb", self.region, f"table/{ref}")
            if kind == "AWS::Logs::LogGroup":
                return _arn("logs", self.region, f"log-group:{ref}:*")
        return Unresolved(f"GetAtt {name}.{attribute}")

    # -- conditions
    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            self._conditions[name] = bool(self._condition(self.template["Conditions"][name]))
        return self._conditions[name]

    def _condition(self, node: Any) -> Any:
        if isinstance(node, dict) and len(node) == 1:
            [(key, value)] = node.items()
            if key == "Fn::Equals":
                left, right = (self.resolve(v) for v in value)
                return left == right
            if key == "Fn::Not":
                return not self._condition(value[0])
            if key == "Fn::And":
                return all(self._condition(v) for v in value)
            if key == "Fn::Or":
                return any(self._condition(v) for v in value)
            if key == "Condition":
                return self.condition(value)
        return self.resolve(node)

    # -- the tree
    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            items = [self.resolve(item) for item in node]
            return [item for item in items if item is not _NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            [(key, value)] = node.items()
            if key == "Ref":
                return self.ref(value)
            if key == "Fn::GetAtt":
                name, attribute = value if isinstance(value, list) else value.split(".", 1)
                return self.get_att(name, attribute)
            if key == "Fn::Sub":
                return self._sub(value)
            if key == "Fn::Join":
                delimiter, items = value
                resolved = self.resolve(items)
                if any(isinstance(item, Unresolved) for item in resolved):
                    return Unresolved("Join of unresolved")
                return delimiter.join(str(item) for item in resolved)
            if key == "Fn::Split":
                delimiter, source = value
                resolved = self.resolve(source)
                if isinstance(resolved, Unresolved):
                    return [resolved]
                return str(resolved).split(delimiter)
            if key == "Fn::Select":
                index, items = value
                resolved = self.resolve(items)
                if any(isinstance(item, Unresolved) for item in resolved):
                    return Unresolved("Select of unresolved")
                return resolved[int(self.resolve(index))]
            if key == "Fn::If":
                name, yes, no = value
                return self.resolve(yes if self.condition(name) else no)
            if key.startswith("Fn::") or key == "Condition":
                raise ValueError(f"intrinsic {key} is not supported by the resolver")
        resolved = {key: self.resolve(value) for key, value in node.items()}
        return {key: value for key, value in resolved.items() if value is not _NO_VALUE}

    def _sub(self, value: Any) -> str:
        text, variables = (value, {}) if isinstance(value, str) else value
        local = {name: self.resolve(node) for name, node in variables.items()}
        unresolved = False

        def replace(match: re.Match[str]) -> str:
            nonlocal unresolved
            name = match.group(1)
            if name in local:
                found = local[name]
            elif "." in name and not name.startswith("AWS::"):
                found = self.get_att(*name.split(".", 1))
            else:
                found = self.ref(name)
            unresolved = unresolved or isinstance(found, Unresolved)
            return str(found)

        result = re.sub(r"\$\{([^!}][^}]*)\}", replace, text)
        return Unresolved(result) if unresolved else result


_NO_VALUE = object()


# --------------------------------------------------------------------------- roles
@dataclass(frozen=True)
class Statement:
    """One Allow statement of a role, named by where it comes from."""

    origin: str  # e.g. "BatchAccessPolicy/TerminateOwnJobs" or "DispatchFunctionRole/inline..."
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    condition: Mapping[str, Mapping[str, Any]]
    effect: str = "Allow"


@dataclass(frozen=True)
class Role:
    function: str
    statements: tuple[Statement, ...]
    managed_arns: tuple[str, ...]  # AWS managed policies (their documents live in IAM, not here)

    def without(self, origin: str) -> Role:
        return Role(
            self.function,
            tuple(s for s in self.statements if s.origin != origin),
            tuple(arn for arn in self.managed_arns if arn != origin),
        )


def _listed(value: Any) -> tuple[str, ...]:
    values = value if isinstance(value, list) else [value]
    return tuple(item if isinstance(item, Unresolved) else str(item) for item in values)


def _statements(origin: str, document: dict[str, Any]) -> list[Statement]:
    found = []
    for index, statement in enumerate(document.get("Statement", [])):
        name = statement.get("Sid") or str(index)
        found.append(
            Statement(
                origin=f"{origin}/{name}",
                actions=_listed(statement.get("Action", [])),
                resources=_listed(statement.get("Resource", [])),
                condition=statement.get("Condition", {}),
                effect=statement.get("Effect", "Allow"),
            )
        )
    return found


def function_role(resolver: Resolver, function: str) -> Role:
    resources = resolver.template["Resources"]
    role_id = _role_id(resources, function)
    properties = resolver.resolve(resources[role_id]["Properties"])
    statements: list[Statement] = []
    managed: list[str] = []
    for arn_or_ref, node in zip(
        properties.get("ManagedPolicyArns", []),
        resources[role_id]["Properties"].get("ManagedPolicyArns", []),
        strict=True,
    ):
        if isinstance(node, dict) and "Ref" in node:
            policy = resolver.resolve(resources[node["Ref"]]["Properties"])
            statements += _statements(node["Ref"], policy["PolicyDocument"])
        else:
            managed.append(str(arn_or_ref))
    for policy in properties.get("Policies", []):
        statements += _statements(f"{role_id}/{policy['PolicyName']}", policy["PolicyDocument"])
    return Role(function, tuple(statements), tuple(managed))


def _role_id(resources: dict[str, Any], function: str) -> str:
    role = resources[function]["Properties"]["Role"]
    return str(role["Fn::GetAtt"][0])


def function_environment(template: dict[str, Any], function: str) -> dict[str, Any]:
    """The function's environment variables as the transformed template sets them."""
    variables: dict[str, Any] = (
        template["Resources"][function]["Properties"].get("Environment", {}).get("Variables", {})
    )
    return variables


def parameters_from_environment(
    template: dict[str, Any], function: str, environment: Mapping[str, str]
) -> dict[str, str]:
    """Parameters the recorded environment gives away: EXTRA_JOB_QUEUE_ARNS is
    !Join [",", !Ref ExtraJobQueueArns], so its value is that parameter's."""
    found: dict[str, str] = {}
    for name, node in function_environment(template, function).items():
        value = environment.get(name)
        join = node.get("Fn::Join") if isinstance(node, dict) else None
        if value and join and join[0] == "," and isinstance(join[1], dict) and "Ref" in join[1]:
            found[str(join[1]["Ref"])] = value
    return found


def bindings_from_environment(
    template: dict[str, Any], function: str, environment: Mapping[str, str]
) -> dict[str, str]:
    """What the recorded environment says each !Ref / !GetAtt of the template is: the
    template sets RUNS_TABLE: !Ref RunsTable, so the call's RUNS_TABLE is that Ref."""
    bindings: dict[str, str] = {}
    for name, node in function_environment(template, function).items():
        value = environment.get(name)
        if not value or not isinstance(node, dict) or len(node) != 1:
            continue
        [(key, target)] = node.items()
        if key == "Ref" and not str(target).startswith("AWS::"):
            bindings[f"Ref {target}"] = value
        elif key == "Fn::GetAtt":
            name_, attribute = target if isinstance(target, list) else target.split(".", 1)
            bindings[f"GetAtt {name_}.{attribute}"] = value
    return bindings


def _pseudo_stack_name(template: dict[str, Any], function: str, env: Mapping[str, str]) -> Any:
    for name, node in function_environment(template, function).items():
        if node == {"Ref": "AWS::StackName"}:
            return env.get(name)
    return None


def resolver_for(
    template: dict[str, Any], function: str, region: str, environment: Mapping[str, str]
) -> Resolver:
    return Resolver(
        template,
        region=region,
        stack_name=_pseudo_stack_name(template, function, environment),
        bindings=bindings_from_environment(template, function, environment),
        parameters=parameters_from_environment(template, function, environment),
    )


# --------------------------------------------------------------------------- matching
def action_matches(pattern: str, action: str) -> bool:
    """IAM action names are case-insensitive; `*` and `?` are wildcards."""
    return fnmatch.fnmatchcase(action.lower(), pattern.lower())


def resource_matches(pattern: str, arn: str) -> bool:
    """ARN patterns: case-sensitive, `*` any run of characters (also across `:` and `/`),
    `?` one character. An unresolved pattern matches nothing."""
    if isinstance(pattern, Unresolved):
        return False
    if pattern == "*":
        return True
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, arn) is not None


def _string_like(pattern: Any, value: str) -> bool:
    return not isinstance(pattern, Unresolved) and resource_matches(str(pattern), value)


_OPERATORS = {
    "StringEquals": lambda expected, actual: (
        not isinstance(expected, Unresolved) and str(expected) == actual
    ),
    "StringLike": _string_like,
    "ArnEquals": lambda expected, actual: resource_matches(str(expected), actual),
    "ArnLike": lambda expected, actual: resource_matches(str(expected), actual),
}


def condition_holds(condition: Mapping[str, Mapping[str, Any]], context: Mapping[str, Any]) -> bool:
    """IAM's evaluation of a Condition block: every operator and key must hold; a key with
    several values holds when any value does; ForAllValues: every request value must match
    some policy value (true when the key is absent); ForAnyValue: some must."""
    for operator, keys in condition.items():
        qualifier, _, base = operator.rpartition(":")
        test = _OPERATORS.get(base)
        if test is None:
            raise ValueError(f"condition operator {operator} is not supported by the checker")
        for key, expected in keys.items():
            expected_values = expected if isinstance(expected, list) else [expected]
            actual = _context_value(context, key)
            if qualifier == "ForAllValues":
                values = actual if isinstance(actual, list) else [] if actual is None else [actual]
                if not all(any(test(e, v) for e in expected_values) for v in values):
                    return False
            elif qualifier == "ForAnyValue":
                values = actual if isinstance(actual, list) else [] if actual is None else [actual]
                if not any(any(test(e, v) for e in expected_values) for v in values):
                    return False
            elif qualifier:
                raise ValueError(f"condition qualifier {qualifier} is not supported")
            else:
                if actual is None or isinstance(actual, list):
                    return False
                if not any(test(e, str(actual)) for e in expected_values):
                    return False
    return True


def _context_value(context: Mapping[str, Any], key: str) -> Any:
    # Condition key names are case-insensitive; tag keys inside them are case-sensitive.
    prefix, _, rest = key.partition("/")
    for name, value in context.items():
        other_prefix, _, other_rest = name.partition("/")
        if other_prefix.lower() == prefix.lower() and other_rest == rest:
            return value
    return None


@dataclass(frozen=True)
class Need:
    """One authorization a call needs: IAM checks action on resource with this context."""

    action: str
    resource: str
    context: Mapping[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        context = f" with {dict(self.context)}" if self.context else ""
        return f"{self.action} on {self.resource}{context}"


def granting(role: Role, need: Need) -> list[Statement]:
    """The role's Allow statements that grant `need` (empty: AccessDenied)."""
    found = []
    for statement in role.statements:
        if statement.effect != "Allow":
            continue
        if not any(action_matches(a, need.action) for a in statement.actions):
            continue
        if not any(resource_matches(r, need.resource) for r in statement.resources):
            continue
        if condition_holds(statement.condition, need.context):
            found.append(statement)
    return found


def roles_resolved_loosely(template: dict[str, Any]) -> dict[str, Role]:
    """Each function's role with every Ref/GetAtt left as it cannot be known offline (for the
    checks that look at actions only)."""
    resolver = Resolver(template, stack_name="batchcron-check")
    return {function: function_role(resolver, function) for function in FUNCTIONS}


if __name__ == "__main__":  # a look at the resolved roles: python -m tests.permissions.policies
    for role in roles_resolved_loosely(transformed_template()).values():
        print(role.function, role.managed_arns)
        for statement in role.statements:
            print("  ", statement.origin, statement.actions, statement.resources)
    sys.exit(0)
