"""The recordings are well-formed answers of the Kubernetes v1 API.

They are hand-written in the API's format for these tests, not captured from a live
cluster here (no API server can run on the test machines). This test holds them to
the API's own OpenAPI schemas (kubernetes-validate, strict: no unknown fields), so a
recording cannot drift into a shape a real API server would never send.
"""

from __future__ import annotations

import json

import jsonschema
import kubernetes_validate
import pytest
from kubernetes_validate.utils import schema_contents
from referencing import Registry, Resource

from tests.k8s.apiserver import RECORDINGS

VERSION = "1.30"
SCHEMAS = "kubernetes-json-schema/v1.30.0-local-strict"
FILES = sorted(RECORDINGS.glob("*.json"))


def status_validator() -> jsonschema.Validator:
    """meta/v1 Status is not a resource kubernetes-validate looks up by kind: load it directly."""
    schema = schema_contents(f"{SCHEMAS}/status-meta-v1.json", VERSION)
    definitions = schema_contents(f"{SCHEMAS}/_definitions.json", VERSION)
    registry = Resource.from_contents(definitions) @ (Resource.from_contents(schema) @ Registry())
    return jsonschema.validators.Draft202012Validator(schema, registry=registry)


@pytest.mark.parametrize("path", FILES, ids=[path.stem for path in FILES])
def test_every_answer_validates_against_the_api_schema(path):
    recording = json.loads(path.read_text())
    assert "not captured from a live cluster" in recording["description"]
    status = status_validator()
    for response in recording["responses"]:
        body = response["body"]
        if body["kind"] == "Status":
            status.validate(body)
            assert body["code"] == response.get("status", 200)
            assert body["status"] == ("Success" if body["code"] < 400 else "Failure")
        else:
            kubernetes_validate.validate(body, VERSION, strict=True)
            assert response.get("status", 200) == 200
