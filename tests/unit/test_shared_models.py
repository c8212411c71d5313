"""The test processes' one botocore loader (tests/shared_models.py)."""

from __future__ import annotations

import boto3


def test_sessions_share_one_loader_and_its_search_paths_do_not_grow() -> None:
    first, second = boto3.session.Session(), boto3.session.Session()
    loader = first._session.get_component("data_loader")
    assert second._session.get_component("data_loader") is loader
    paths = list(loader.search_paths)
    boto3.session.Session()  # boto3 appends its data path to each new session's loader
    assert loader.search_paths == paths
    assert len(set(paths)) == len(paths)


def test_clients_of_different_sessions_read_one_parsed_model() -> None:
    one = boto3.session.Session(region_name="eu-west-2").client("batch")
    two = boto3.session.Session(region_name="eu-west-2").client("batch")
    assert (
        one.meta.service_model._service_description is two.meta.service_model._service_description
    )
