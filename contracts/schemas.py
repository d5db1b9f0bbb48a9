"""JSON Schema per event and the AsyncAPI 3.0 document, built from the models."""

from typing import Any

from contracts import topics
from contracts.envelope import ENVELOPE_OF_TYPE

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
KAFKA_BINDING_VERSION = "0.5.0"
LOCAL_KAFKA = "127.0.0.1:9092"

_WRITERS_OF_TOPIC = {
    topics.SALES: "point of sale",
    topics.COLLECTIONS: "return centres",
    topics.CUSTODY: "anyone holding a battery; second-life operators",
    topics.LOTS: "return centres, recycler",
    topics.RECOVERIES: "recycler",
    topics.TERMS: "finance",
    topics.FINANCE: "finance",
    topics.REFUNDS: "the scheme (out)",
    topics.LEDGER: "the scheme (out)",
    topics.REJECTIONS: "the scheme (out)",
    topics.DISCREPANCIES: "the scheme (out)",
    topics.RECONCILIATIONS: "the scheme (out)",
    topics.ROUTING: "the scheme (out)",
}


def schema_file_name(event_type: str) -> str:
    return f"{event_type}.json"


def event_schema(event_type: str) -> dict[str, Any]:
    """The JSON Schema of a whole envelope whose `data` is of this event type."""
    schema = ENVELOPE_OF_TYPE[event_type].model_json_schema(by_alias=True, mode="validation")
    return {"$schema": JSON_SCHEMA_DIALECT, "$id": schema_file_name(event_type), **schema}


def channel_id(topic: str) -> str:
    return topic.removeprefix("takeback.")


def asyncapi_document() -> dict[str, Any]:
    """Channels per contract topic, one message per event type, seen from the scheme."""
    contract_topics = topics.INPUT_TOPICS + topics.OUTPUT_TOPICS
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Takeback",
            "version": "1.0.0",
            "description": "Battery take-back and deposit scheme: the external contract (spec/contract.md).",
        },
        "defaultContentType": "application/json",
        "servers": {
            "local": {"host": LOCAL_KAFKA, "protocol": "kafka", "description": "local Kafka (KRaft)"}
        },
        "channels": {channel_id(topic): _channel(topic) for topic in contract_topics},
        "operations": {_operation_id(topic): _operation(topic) for topic in contract_topics},
        "components": {"messages": {event_type: _message(event_type) for event_type in topics.EVENT_TYPES}},
    }


def _types_on(topic: str) -> list[str]:
    return [event_type for event_type in topics.EVENT_TYPES if topics.TOPIC_OF_TYPE[event_type] == topic]


def _channel(topic: str) -> dict[str, Any]:
    return {
        "address": topic,
        "description": f"Written by {_WRITERS_OF_TOPIC[topic]}.",
        "messages": {
            event_type: {"$ref": f"#/components/messages/{event_type}"} for event_type in _types_on(topic)
        },
    }


def _operation_id(topic: str) -> str:
    verb = "receive" if topic in topics.INPUT_TOPICS else "send"
    return f"{verb}_{channel_id(topic)}"


def _operation(topic: str) -> dict[str, Any]:
    return {
        "action": "receive" if topic in topics.INPUT_TOPICS else "send",
        "channel": {"$ref": f"#/channels/{channel_id(topic)}"},
        "messages": [
            {"$ref": f"#/channels/{channel_id(topic)}/messages/{event_type}"}
            for event_type in _types_on(topic)
        ],
    }


def _message(event_type: str) -> dict[str, Any]:
    key_field = topics.KEY_FIELD_OF_TYPE[event_type]
    fixed_key = topics.FIXED_KEY_OF_TYPE.get(event_type)
    if key_field:
        key: dict[str, Any] = {"type": "string", "description": f"data.{key_field}"}
    elif fixed_key is not None:
        key = {
            "type": "string",
            "const": fixed_key,
            "description": f"the constant {fixed_key} (one partition, every event in order)",
        }
    else:
        key = {"type": "string", "description": "the key of the rejected message"}
    return {
        "name": topics.wire_type(event_type),
        "title": ENVELOPE_OF_TYPE[event_type].__name__,
        "contentType": "application/json",
        "payload": {"$ref": f"schemas/{schema_file_name(event_type)}"},
        "bindings": {
            "kafka": {
                "key": key,
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
    }
