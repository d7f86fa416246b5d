"""Notifications to the SNS topic: a short subject, a readable body, the finding JSON as a second part
and as the ``finding`` message attribute (plus ``cluster``/``status``/``code``/``kind`` for filter policies)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from metrics_guard.errors import AwsError
from metrics_guard.service.messages import Message

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sns.type_defs import MessageAttributeValueTypeDef

#: SNS limits a message attribute value together with the body to 256 KiB; keep the attribute well below.
MAX_ATTRIBUTE_CHARS = 64 * 1024


class SnsNotifier:
    def __init__(self, client: SNSClient, topic_arn: str) -> None:
        self._client = client
        self._topic_arn = topic_arn

    def send(self, message: Message) -> str:
        """Publish and return the MessageId; raises ``AwsError`` (the invocation is retried, then DLQ)."""
        attributes: dict[str, MessageAttributeValueTypeDef] = {
            "kind": {"DataType": "String", "StringValue": message.kind.value},
            "cluster": {"DataType": "String", "StringValue": message.cluster},
            "status": {"DataType": "String", "StringValue": message.status},
            "code": {"DataType": "String", "StringValue": message.code},
        }
        if len(message.finding_json) <= MAX_ATTRIBUTE_CHARS:
            attributes["finding"] = {"DataType": "String", "StringValue": message.finding_json}
        try:
            response = self._client.publish(
                TopicArn=self._topic_arn,
                Subject=message.subject,
                Message=message.text_with_json(),
                MessageAttributes=attributes,
            )
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", "ClientError"))
            raise AwsError(f"SNS Publish failed: {code}", code=code) from exc
        except BotoCoreError as exc:
            raise AwsError(f"SNS Publish failed: {type(exc).__name__}") from exc
        return response["MessageId"]
