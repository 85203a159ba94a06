"""The demo's "at the endpoint" number (workflow.endpoint_accuracy): every test image of
the real subset through the deployed endpoint, in a pool of threads, checked against
what the endpoint answers for each image on its own, and shown in the demo's result."""

from __future__ import annotations

import json

import pytest

from deployment.target import Target
from tests.support.trained_model import cifar_pngs
from workflow.demo import DemoResult, format_result
from workflow.endpoint_accuracy import endpoint_accuracy, labelled_images

pytestmark = [pytest.mark.integration, pytest.mark.terraform, pytest.mark.slow]


@pytest.fixture(scope="module")
def test_split(terraform_environment, shared_archive) -> list:
    """(PNG, class index) of every line of the ETL's test.lst for the real subset."""
    etl = cifar_pngs(shared_archive, terraform_environment["artifact"].parent / "cifar")
    return labelled_images(etl, "test")


def test_accuracy_at_the_endpoint_counts_what_the_endpoint_answers(deployment, test_split):
    endpoint = deployment.output("endpoint_name")
    runtime = deployment.cloud.client("sagemaker-runtime")
    answers = []
    for image, label in test_split:  # one at a time: the reference for the pooled count
        body = runtime.invoke_endpoint(
            EndpointName=endpoint, ContentType="image/png", Body=image.read_bytes()
        )["Body"].read()
        probabilities = json.loads(body)
        answers.append(probabilities.index(max(probabilities)) == label)

    measured = endpoint_accuracy(Target("local", deployment.cloud.port), endpoint, test_split)

    assert (measured.total, measured.failed, measured.first_error) == (len(test_split), 0, "")
    assert measured.correct == sum(answers)
    assert measured.accuracy > 0.5  # a trained model, clearly better than chance
    line = format_result(DemoResult(endpoint=measured))[1]
    assert f"({sum(answers)}/{len(test_split)} test images right" in line


def test_an_endpoint_that_does_not_exist_is_counted_as_failed_with_its_error(
    deployment, test_split
):
    measured = endpoint_accuracy(
        Target("local", deployment.cloud.port), "no-such-endpoint", test_split[:3]
    )

    assert (measured.correct, measured.total, measured.failed) == (0, 3, 3)
    assert measured.first_error.startswith(f"{test_split[0][0].name}: ")
    assert "no-such-endpoint" in measured.first_error
