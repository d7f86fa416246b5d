from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from metrics_guard.adapters.sns import SnsNotifier
from metrics_guard.errors import AwsError
from metrics_guard.service.messages import NoticeKind, render
from tests.unit.service.serverless_fakes import finding

TOPIC = "arn:aws:sns:us-east-1:123456789012:metrics-guard"


@pytest.fixture
def client() -> Any:
    return boto3.client("sns", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")


def test_publish_shape(client: Any) -> None:
    message = render(NoticeKind.ALERT, finding())
    with Stubber(client) as stub:
        stub.add_response(
            "publish",
            {"MessageId": "m-1"},
            {
                "TopicArn": TOPIC,
                "Subject": "[metrics-guard] FAILING prod: PROXY_CERT_EXPIRED on cert/proxy-client@apiserver/2",
                "Message": message.text_with_json(),
                "MessageAttributes": {
                    "kind": {"DataType": "String", "StringValue": "alert"},
                    "cluster": {"DataType": "String", "StringValue": "prod"},
                    "status": {"DataType": "String", "StringValue": "fail"},
                    "code": {"DataType": "String", "StringValue": "PROXY_CERT_EXPIRED"},
                    "finding": {"DataType": "String", "StringValue": message.finding_json},
                },
            },
        )
        assert SnsNotifier(client, TOPIC).send(message) == "m-1"


def test_errors_are_mapped_by_code(client: Any) -> None:
    with Stubber(client) as stub:
        stub.add_client_error(
            "publish",
            service_error_code="KMSAccessDenied",
            http_status_code=400,
            expected_params={"TopicArn": TOPIC, "Subject": ANY, "Message": ANY, "MessageAttributes": ANY},
        )
        with pytest.raises(AwsError) as caught:
            SnsNotifier(client, TOPIC).send(render(NoticeKind.ALERT, finding()))
    assert caught.value.code == "KMSAccessDenied"
