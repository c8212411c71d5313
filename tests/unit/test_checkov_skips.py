"""Every check checkov skips is named in its resource's Metadata with the reason (make lint
runs checkov; nothing may fail, or be skipped, unexplained)."""

from __future__ import annotations

import re

from batchcron.local.provision import load_template

CHECK_ID = re.compile(r"^CKV2?_AWS_\d+$")


def test_every_checkov_skip_names_a_check_and_says_why() -> None:
    skips = [
        (name, skip)
        for name, resource in load_template()["Resources"].items()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]
    assert len(skips) >= 20
    for name, skip in skips:
        assert CHECK_ID.match(skip.get("id", "")), (name, skip)
        assert len(skip.get("comment", "")) > 40, (name, skip)


def test_a_skip_is_where_the_choice_is_made() -> None:
    """The Function URL's AuthType NONE is explained on WebhookFunction, whose FunctionUrlConfig
    makes it (tools/sam_transform.py carries it to the generated AWS::Lambda::Url)."""
    resources = load_template()["Resources"]
    webhook = {s["id"] for s in resources["WebhookFunction"]["Metadata"]["checkov"]["skip"]}
    assert "CKV_AWS_258" in webhook
    assert resources["WebhookFunction"]["Properties"]["FunctionUrlConfig"]["AuthType"] == "NONE"
