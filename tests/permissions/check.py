"""Calls equal grants: every recorded call of a function is allowed by that function's role,
with its resources and condition keys; every grant is used by some call or justified."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.permissions.actions import needs
from tests.permissions.justified import JUSTIFIED
from tests.permissions.policies import (
    FUNCTIONS,
    Need,
    Role,
    Statement,
    action_matches,
    function_role,
    granting,
    resolver_for,
)
from tests.permissions.recorder import Call


@dataclass(frozen=True)
class Case:
    """The needs of one function's calls under one recorded environment, with the role
    resolved for that environment (what CloudFormation would have made for it)."""

    function: str
    role: Role
    needs: tuple[tuple[Need, Call], ...]


def cases(template: dict[str, Any], calls: Iterable[Call]) -> list[Case]:
    grouped: dict[tuple[str, str, str], list[Call]] = defaultdict(list)
    for call in calls:
        key = (call.function, call.region, repr(sorted(call.environment.items())))
        grouped[key].append(call)
    found = []
    for (function, region, _), group in grouped.items():
        resolver = resolver_for(template, function, region, group[0].environment)
        role = function_role(resolver, function)
        seen: dict[str, tuple[Need, Call]] = {}
        for call in group:
            for need in needs(call):
                seen.setdefault(
                    repr((need.action, need.resource, sorted(need.context.items()))), (need, call)
                )
        found.append(Case(function, role, tuple(seen.values())))
    return found


@dataclass
class Report:
    denied: list[str] = field(default_factory=list)
    unused: list[str] = field(default_factory=list)
    missing_justified: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        return self.denied + self.unused + self.missing_justified


def check(
    found: list[Case],
    justified: Mapping[tuple[str, str], str] = JUSTIFIED,
    without: tuple[str, str] | None = None,
    functions: Iterable[str] = FUNCTIONS,
) -> Report:
    """The check over every case; `without` = (function, statement origin or managed policy
    ARN) drops that one grant from that function's role first, as if the template lacked it."""
    report = Report()
    used: dict[str, set[tuple[str, str]]] = defaultdict(set)  # function -> (origin, action)
    roles: dict[str, Role] = {}
    for case in found:
        dropped = without is not None and without[0] == case.function
        role = case.role.without(without[1]) if without and dropped else case.role
        roles.setdefault(case.function, role)
        for need, call in case.needs:
            statements = granting(role, need)
            if not statements:
                report.denied.append(f"{case.function}: {need.describe()} denied ({call.test})")
            for statement in statements:
                used[case.function] |= {
                    (statement.origin, action)
                    for action in statement.actions
                    if action_matches(action, need.action)
                }
    for function in functions:
        role = roles.get(function)
        if role is None:
            report.denied.append(f"{function}: no recorded call at all")
            continue
        for statement in role.statements:
            for action in statement.actions:
                if (statement.origin, action) in used[function]:
                    continue
                if (function, action) not in justified:
                    report.unused.append(
                        f"{function}: {statement.origin} grants {action}, which no recorded "
                        "call uses and tests/permissions/justified.py does not explain"
                    )
        for arn in role.managed_arns:
            if (function, arn) not in justified:
                report.unused.append(f"{function}: managed policy {arn} is not explained")
        for (owner, action), reason in justified.items():
            if owner != function:
                continue
            if action.startswith("arn:"):
                present = action in role.managed_arns
            else:
                present = any(_grants_action(s, action) for s in role.statements)
            if not present:
                report.missing_justified.append(
                    f"{function}: needs {action} ({reason}) but is not granted it"
                )
    return report


def _grants_action(statement: Statement, action: str) -> bool:
    return statement.effect == "Allow" and any(action_matches(a, action) for a in statement.actions)


def origins(found: list[Case]) -> list[tuple[str, str]]:
    """Every (function, statement origin or managed ARN) of every role, once."""
    seen: dict[tuple[str, str], None] = {}
    for case in found:
        for statement in case.role.statements:
            seen[(case.function, statement.origin)] = None
        for arn in case.role.managed_arns:
            seen[(case.function, arn)] = None
    return list(seen)
