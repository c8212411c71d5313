"""Offline deploy check: template.yaml through the SAM transform (samtranslator, as
CloudFormation's AWS::Serverless transform does) into plain CloudFormation JSON, for cfn-lint.

Runs with the Python of sam's own virtualenv (.tools/sam), which ships samtranslator:
    .tools/sam/bin/python tools/sam_transform.py template.yaml .aws-sam/transformed.json
No AWS call is made: a policy naming an AWS managed policy would need IAM to resolve it, so
that is refused with a clear error instead (the template uses none).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any


class OfflinePolicyLoader:
    """Stands in for ManagedPolicyLoader, which would call IAM ListPolicies."""

    def load(self) -> dict[str, str]:
        raise SystemExit(
            "template names an AWS managed policy; the offline transform cannot resolve it"
        )


def _as_packaged(template: dict[str, Any]) -> None:
    """Local CodeUri paths as `sam package` leaves them: S3 URIs (the transform needs one)."""
    function_globals = template.get("Globals", {}).get("Function", {})
    if isinstance(function_globals.get("CodeUri"), str):
        function_globals["CodeUri"] = "s3://offline-check/functions.zip"
    for resource in template.get("Resources", {}).values():
        properties = resource.get("Properties") or {}
        if resource.get("Type") == "AWS::Serverless::Function":
            code = properties.get("CodeUri", function_globals.get("CodeUri"))
            if isinstance(code, str) and not code.startswith("s3://"):
                properties["CodeUri"] = "s3://offline-check/functions.zip"


def transform(template_path: Path) -> dict[str, Any]:
    from samtranslator.translator.transform import transform as sam_transform
    from samtranslator.yaml_helper import yaml_parse

    # samtranslator asks boto3 for a region to pick the partition; any commercial one will do.
    os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-2")
    template = yaml_parse(template_path.read_text(encoding="utf-8"))
    _as_packaged(template)
    # Stack-level pseudo parameters as CloudFormation would supply them.
    parameters = {"AWS::Region": "eu-west-2", "AWS::Partition": "aws"}
    transformed: dict[str, Any] = sam_transform(template, parameters, OfflinePolicyLoader())  # type: ignore[arg-type]
    return transformed


def _carry_checkov_skips(transformed: dict[str, Any]) -> None:
    """A function's Function URL is a resource SAM generates (AWS::Lambda::Url), where
    template.yaml cannot put Metadata: it takes its function's `checkov: skip:` entries, with
    their reasons, so that checkov of the transformed template reads them there too."""
    resources = transformed.get("Resources", {})
    for resource in resources.values():
        if resource.get("Type") != "AWS::Lambda::Url":
            continue
        target = resource.get("Properties", {}).get("TargetFunctionArn", {})
        function = resources.get(target.get("Ref", "") if isinstance(target, dict) else "", {})
        skips = function.get("Metadata", {}).get("checkov", {}).get("skip")
        if skips:
            resource.setdefault("Metadata", {}).setdefault("checkov", {})["skip"] = skips


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(f"usage: {argv[0]} TEMPLATE OUTPUT.json", file=sys.stderr)
        return 64
    source, target = Path(argv[1]), Path(argv[2])
    try:
        transformed = transform(source)
    except Exception as exc:  # the translator's errors carry the causes in their message
        print(f"SAM transform of {source} failed: {exc}", file=sys.stderr)
        return 1
    _carry_checkov_skips(transformed)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(transformed, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    resources = transformed.get("Resources", {})
    print(f"{source} -> {target}: {len(resources)} CloudFormation resources")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
