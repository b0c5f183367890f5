"""Green API notifications, as the docs and real instances send them, into events and Inbound."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from panelpilot.channels.base import InboundKind
from panelpilot.channels.greenapi import normalize, split_events, webhook_authorized

INSTANCE = {"idInstance": 1101000001, "wid": "71231234567@c.us", "typeInstance": "whatsapp"}
CUSTOMER = "71234567890@c.us"


def incoming(message_data: dict[str, Any], **sender: Any) -> dict[str, Any]:
    return {
        "typeWebhook": "incomingMessageReceived",
        "instanceData": INSTANCE,
        "timestamp": 1703014480,
        "idMessage": "165682394AEEFFB519B13DD51491DF65",
        "senderData": {
            "chatId": CUSTOMER,
            "chatName": "Green API",
            "sender": CUSTOMER,
            "senderName": "Green API",
            "senderContactName": "Green API inContacts",
            **sender,
        },
        "messageData": message_data,
    }


TEXT = incoming(
    {"typeMessage": "textMessage", "textMessageData": {"textMessage": "2274209 refill"}}
)

EXTENDED = incoming(
    {
        "typeMessage": "extendedTextMessage",
        "extendedTextMessageData": {
            "text": "2274209, 2274210 speed https://panel.example/orders",
            "description": "",
            "title": "Orders",
            "previewType": "None",
            "jpegThumbnail": "",
            "forwardingScore": 0,
            "isForwarded": False,
        },
    }
)

QUOTED_DEPRECATED = incoming(
    {
        "typeMessage": "quotedMessage",
        "extendedTextMessageData": {
            "text": "Quoting a text message",
            "stanzaId": "3EB063C771F28EB323FAE3",
            "participant": "71234567890@c.us",
        },
        "quotedMessage": {
            "stanzaId": "3EB063C771F28EB323FAE3",
            "participant": "71234567890@c.us",
            "typeMessage": "textMessage",
            "textMessage": "Hello! This is a text message.",
        },
    }
)

TEXT_WITH_QUOTE = incoming(
    {
        "typeMessage": "textMessage",
        "textMessageData": {"textMessage": "this one please"},
        "quotedMessage": {
            "stanzaId": "BAE5F4886F5E5F76",
            "participant": "71231234567@c.us",
            "typeMessage": "textMessage",
            "textMessage": "Which order?",
        },
    }
)

SWE001: dict[str, Any] = {
    "typeWebhook": "incomingMessageReceived",
    "instanceData": {
        "idInstance": 1100000001,
        "wid": "71231234567@c.us",
        "typeInstance": "whatsapp",
    },
    "timestamp": 1700545580,
    "idMessage": "3AE2864C77312000000",
    "senderData": {
        "chatId": "71234567890@c.us",
        "chatName": "Green API",
        "sender": "71234567890@c.us",
        "senderName": "Green API",
        "senderContactName": "Green API inContacts",
    },
    "messageData": {"typeMessage": "textMessage", "textMessageData": {"textMessage": "{{SWE001}}"}},
}

IMAGE = incoming(
    {
        "typeMessage": "imageMessage",
        "fileMessageData": {
            "downloadUrl": "https://sw-media.storage.example/1101000001/15697d2c.jpg",
            "caption": "2274209 not started",
            "fileName": "15697d2c.jpg",
            "jpegThumbnail": "/9j/4AAQSkZJRgABAQ==",
            "mimeType": "image/jpeg",
            "forwardingScore": 0,
            "isForwarded": False,
        },
    }
)

GROUP = incoming(
    {"typeMessage": "textMessage", "textMessageData": {"textMessage": "EXT-99812 done"}},
    chatId="120363043968066561@g.us",
    chatName="Provider support",
    sender="79005554433@c.us",
    senderName="Provider",
    senderContactName="",
)

LID = incoming(
    {"typeMessage": "textMessage", "textMessageData": {"textMessage": "2274209 cancel"}},
    chatId="120363043968066561@g.us",
    chatName="Customers",
    sender="180946317230095@lid",
    senderName="",
    senderContactName="Maria",
)

EDITED: dict[str, Any] = {
    "typeWebhook": "incomingMessageReceived",
    "instanceData": INSTANCE,
    "timestamp": 1733146115,
    "idMessage": "BAE597DC5CB134F7",
    "senderData": {
        "chatId": CUSTOMER,
        "chatName": "Green API",
        "sender": CUSTOMER,
        "senderName": "Green API",
        "senderContactName": "Green API inContacts",
    },
    "messageData": {
        "typeMessage": "editedMessage",
        "editedMessageData": {"textMessage": "New message", "stanzaId": "BAE5AFC355030F7A"},
    },
}

ECHO_API: dict[str, Any] = {
    "typeWebhook": "outgoingAPIMessageReceived",
    "instanceData": {
        "idInstance": 1101000002,
        "wid": "71234567890@c.us",
        "typeInstance": "whatsapp",
    },
    "timestamp": 1705898347,
    "idMessage": "BACB52BE2EDD30CAD9",
    "senderData": {
        "chatId": "71231234567@c.us",
        "chatName": "Green API user",
        "sender": "71234567890@c.us",
        "senderName": "Green API",
        "senderContactName": "Green API inContacts",
    },
    "messageData": {
        "typeMessage": "extendedTextMessage",
        "extendedTextMessageData": {
            "text": "Order 2274209: refill requested",
            "description": "",
            "title": "",
            "previewType": "None",
            "jpegThumbnail": "",
            "forwardingScore": 0,
            "isForwarded": False,
        },
    },
}

ECHO_PHONE: dict[str, Any] = {
    "typeWebhook": "outgoingMessageReceived",
    "instanceData": INSTANCE,
    "timestamp": 1588091580,
    "idMessage": "F7AEC1B7086ECDC7E6E45923F5EDB825",
    "senderData": {
        "chatId": "79001234568@c.us",
        "sender": "71231234567@c.us",
        "chatName": "Racheal",
        "senderName": "John",
    },
    "messageData": {
        "typeMessage": "textMessage",
        "textMessageData": {"textMessage": "typed by hand"},
    },
}


def status(value: str, **extra: Any) -> dict[str, Any]:
    return {
        "typeWebhook": "outgoingMessageStatus",
        "chatId": "71231234567@c.us",
        "instanceData": INSTANCE,
        "timestamp": 1705901090,
        "idMessage": "ECE6BBEA514B66872790C3D9D52C5C19",
        "status": value,
        "sendByApi": True,
        **extra,
    }


STATE: dict[str, Any] = {
    "typeWebhook": "stateInstanceChanged",
    "instanceData": {"idInstance": 1, "wid": "", "typeInstance": "whatsapp"},
    "timestamp": 1586700690,
    "stateInstance": "notAuthorized",
}

CALL: dict[str, Any] = {
    "from": "79001234567@c.us",
    "typeWebhook": "incomingCall",
    "instanceData": INSTANCE,
    "status": "offer",
    "timestamp": 1617691538,
    "idMessage": "DE8D6E00A3E4A4E0D1A4A4B0A8F7E2E4",
}

DEVICE: dict[str, Any] = {
    "typeWebhook": "deviceInfo",
    "instanceData": INSTANCE,
    "timestamp": 1586700690,
    "deviceData": {"platform": "android", "deviceManufacturer": "Xiaomi", "battery": 55},
}


# ------------------------------------------------------------------------------ messages


def test_text_message() -> None:
    inbound = normalize(TEXT)
    assert inbound.kind is InboundKind.MESSAGE
    assert inbound.text == "2274209 refill"
    assert inbound.chat_id == CUSTOMER
    assert inbound.chat_type == "private"
    assert inbound.chat_title == "Green API"
    assert inbound.sender_id == CUSTOMER
    assert inbound.sender_name == "Green API"
    assert inbound.message_id == "165682394AEEFFB519B13DD51491DF65"
    assert inbound.reply_to is None
    assert inbound.occurred_at == datetime.fromtimestamp(1703014480, tz=UTC)
    assert inbound.extra["sender_contact_name"] == "Green API inContacts"


def test_extended_text_message() -> None:
    inbound = normalize(EXTENDED)
    assert inbound.kind is InboundKind.MESSAGE
    assert inbound.text == "2274209, 2274210 speed https://panel.example/orders"


def test_deprecated_quoted_message() -> None:
    inbound = normalize(QUOTED_DEPRECATED)
    assert inbound.kind is InboundKind.MESSAGE
    assert inbound.text == "Quoting a text message"
    assert inbound.reply_to == "3EB063C771F28EB323FAE3"


def test_deprecated_quoted_message_without_quoted_object() -> None:
    payload = copy.deepcopy(QUOTED_DEPRECATED)
    del payload["messageData"]["quotedMessage"]
    assert normalize(payload).reply_to == "3EB063C771F28EB323FAE3"


def test_text_quoting_our_message() -> None:
    inbound = normalize(TEXT_WITH_QUOTE)
    assert inbound.text == "this one please"
    assert inbound.reply_to == "BAE5F4886F5E5F76"


@pytest.mark.parametrize("marker", ["{{SWE001}}", "{{SWE003}}", " {{SWE002}} "])
def test_swe_marker_is_not_customer_text(marker: str) -> None:
    payload = copy.deepcopy(SWE001)
    payload["messageData"]["textMessageData"]["textMessage"] = marker
    inbound = normalize(payload)
    assert inbound.kind is InboundKind.MESSAGE
    assert inbound.text is None
    assert inbound.extra["swe"] == marker.strip().strip("{}")
    assert inbound.message_id == "3AE2864C77312000000"


def test_text_that_merely_mentions_a_marker_is_kept() -> None:
    payload = copy.deepcopy(TEXT)
    payload["messageData"]["textMessageData"]["textMessage"] = "what is {{SWE001}}?"
    assert normalize(payload).text == "what is {{SWE001}}?"


@pytest.mark.parametrize("kind", ["imageMessage", "videoMessage", "documentMessage"])
def test_caption_of_a_file(kind: str) -> None:
    payload = copy.deepcopy(IMAGE)
    payload["messageData"]["typeMessage"] = kind
    inbound = normalize(payload)
    assert inbound.kind is InboundKind.MESSAGE
    assert inbound.text == "2274209 not started"
    assert inbound.extra["typeMessage"] == kind


def test_file_without_caption_has_no_text() -> None:
    payload = copy.deepcopy(IMAGE)
    payload["messageData"]["fileMessageData"]["caption"] = ""
    inbound = normalize(payload)
    assert inbound.kind is InboundKind.MESSAGE
    assert inbound.text is None


@pytest.mark.parametrize(
    "data",
    [
        {"typeMessage": "locationMessage", "locationMessageData": {"latitude": 1, "longitude": 2}},
        {"typeMessage": "reactionMessage", "extendedTextMessageData": {"text": "👍"}},
        {"typeMessage": "stickerMessage", "fileMessageData": {"downloadUrl": "x"}},
        {"typeMessage": "pollMessage"},
    ],
)
def test_other_message_kinds_carry_no_text(data: dict[str, Any]) -> None:
    inbound = normalize(incoming(data))
    assert inbound.kind is InboundKind.MESSAGE
    assert inbound.text is None


def test_group_message() -> None:
    inbound = normalize(GROUP)
    assert inbound.chat_type == "group"
    assert inbound.chat_id == "120363043968066561@g.us"
    assert inbound.chat_title == "Provider support"
    assert inbound.sender_id == "79005554433@c.us"
    assert inbound.sender_name == "Provider"
    assert inbound.text == "EXT-99812 done"


def test_lid_sender_is_an_opaque_id_and_contact_name_fills_in() -> None:
    inbound = normalize(LID)
    assert inbound.sender_id == "180946317230095@lid"
    assert inbound.sender_name == "Maria"
    assert inbound.text == "2274209 cancel"


def test_lid_private_chat() -> None:
    payload = incoming(
        {"typeMessage": "textMessage", "textMessageData": {"textMessage": "hi"}},
        chatId="180946317230095@lid",
        sender="180946317230095@lid",
    )
    inbound = normalize(payload)
    assert inbound.chat_id == "180946317230095@lid"
    assert inbound.chat_type == "private"


def test_edited_message() -> None:
    inbound = normalize(EDITED)
    assert inbound.kind is InboundKind.EDIT
    assert inbound.text == "New message"
    assert inbound.message_id == "BAE597DC5CB134F7"
    assert inbound.extra["edited_message_id"] == "BAE5AFC355030F7A"


def test_deleted_message_is_ignored() -> None:
    payload = incoming({"typeMessage": "deletedMessage", "deletedMessageData": {"stanzaId": "X"}})
    assert normalize(payload).kind is InboundKind.IGNORED


# ------------------------------------------------------------------------------ our own sends


def test_api_echo() -> None:
    inbound = normalize(ECHO_API)
    assert inbound.kind is InboundKind.ECHO
    assert inbound.message_id == "BACB52BE2EDD30CAD9"
    assert inbound.chat_id == "71231234567@c.us"
    assert inbound.text == "Order 2274209: refill requested"
    assert inbound.extra["from_api"] is True


def test_phone_echo() -> None:
    inbound = normalize(ECHO_PHONE)
    assert inbound.kind is InboundKind.ECHO
    assert inbound.extra["from_api"] is False


def test_edited_echo_stays_an_echo() -> None:
    payload = copy.deepcopy(EDITED)
    payload["typeWebhook"] = "outgoingMessageReceived"
    assert normalize(payload).kind is InboundKind.ECHO


@pytest.mark.parametrize(
    ("raw", "ours"),
    [
        ("sent", "sent"),
        ("delivered", "delivered"),
        ("read", "read"),
        ("failed", "failed"),
        ("noAccount", "failed"),
        ("notInGroup", "failed"),
        ("yellowCard", "failed"),
    ],
)
def test_statuses(raw: str, ours: str) -> None:
    inbound = normalize(status(raw))
    assert inbound.kind is InboundKind.STATUS
    assert inbound.status_of == "ECE6BBEA514B66872790C3D9D52C5C19"
    assert inbound.status == ours
    assert inbound.chat_id == "71231234567@c.us"
    assert inbound.occurred_at == datetime.fromtimestamp(1705901090, tz=UTC)
    if raw != ours:
        assert inbound.extra["reason"] == raw


def test_failed_status_keeps_the_description() -> None:
    inbound = normalize(status("failed", description="Recipient not on WhatsApp"))
    assert inbound.extra["description"] == "Recipient not on WhatsApp"


def test_unknown_status_is_ignored() -> None:
    assert normalize(status("exploded")).kind is InboundKind.IGNORED


# ------------------------------------------------------------------------------ the rest


def test_state_change() -> None:
    inbound = normalize(STATE)
    assert inbound.kind is InboundKind.STATE
    assert inbound.account_state == "notAuthorized"
    assert inbound.occurred_at == datetime.fromtimestamp(1586700690, tz=UTC)


@pytest.mark.parametrize("payload", [CALL, DEVICE, {"typeWebhook": "quotaExceeded"}])
def test_other_webhooks_are_ignored(payload: dict[str, Any]) -> None:
    assert normalize(payload).kind is InboundKind.IGNORED


def test_receive_notification_answer_is_unwrapped() -> None:
    inbound = normalize({"receiptId": 1234567, "body": TEXT})
    assert inbound.kind is InboundKind.MESSAGE
    assert inbound.text == "2274209 refill"


@pytest.mark.parametrize(
    "payload",
    [
        None,
        [],
        "incomingMessageReceived",
        42,
        {},
        {"typeWebhook": "incomingMessageReceived"},
        {"typeWebhook": "incomingMessageReceived", "senderData": [], "messageData": None},
        {"typeWebhook": "incomingMessageReceived", "senderData": {"chatId": 5}, "idMessage": None},
        {"typeWebhook": "outgoingMessageStatus"},
        {"typeWebhook": "stateInstanceChanged", "stateInstance": None},
        {"typeWebhook": ["x"]},
        {"receiptId": 1, "body": None},
    ],
)
def test_malformed_input_is_ignored(payload: Any) -> None:
    assert normalize(payload).kind is InboundKind.IGNORED


def test_odd_field_types_do_not_break_a_message() -> None:
    payload = copy.deepcopy(TEXT)
    payload["timestamp"] = "yesterday"
    payload["idMessage"] = 123456
    payload["senderData"]["senderName"] = {"first": "x"}
    payload["messageData"]["textMessageData"]["textMessage"] = ["not", "text"]
    inbound = normalize(payload)
    assert inbound.kind is InboundKind.MESSAGE
    assert inbound.message_id == "123456"
    assert inbound.occurred_at is None
    assert inbound.text is None
    assert inbound.sender_name == "Green API inContacts"


def test_huge_timestamp() -> None:
    payload = copy.deepcopy(TEXT)
    payload["timestamp"] = 10**30
    assert normalize(payload).occurred_at is None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(
    kind=st.sampled_from(
        [
            "incomingMessageReceived",
            "outgoingAPIMessageReceived",
            "outgoingMessageStatus",
            "stateInstanceChanged",
            "incomingCall",
        ]
    ),
    fields=st.dictionaries(
        st.sampled_from(
            ["senderData", "messageData", "idMessage", "timestamp", "status", "chatId"]
        ),
        json_values,
    ),
)
def test_normalize_never_raises(kind: str, fields: dict[str, Any]) -> None:
    payload = {"typeWebhook": kind, **fields}
    normalize(payload)
    assert len(split_events(payload, "1101000001")) == 1


# ------------------------------------------------------------------------------ event keys


def test_message_key_is_instance_chat_and_id() -> None:
    [event] = split_events(TEXT, "1101000001")
    assert event.key == f"1101000001:{CUSTOMER}:165682394AEEFFB519B13DD51491DF65"
    assert event.payload == TEXT


def test_a_resent_webhook_has_the_same_key() -> None:
    first = split_events(copy.deepcopy(TEXT), "1101000001")[0].key
    again = split_events({"receiptId": 99, "body": copy.deepcopy(TEXT)}, "1101000001")[0].key
    assert first == again


def test_keys_differ_between_instances() -> None:
    assert split_events(TEXT, "1")[0].key != split_events(TEXT, "2")[0].key


def test_each_status_of_a_message_has_its_own_key() -> None:
    keys = {split_events(status(s), "1")[0].key for s in ("sent", "delivered", "read")}
    assert len(keys) == 3


def test_state_key_uses_state_and_time() -> None:
    key = split_events(STATE, "1")[0].key
    assert "notAuthorized" in key and "1586700690" in key
    later = {**STATE, "timestamp": 1586700999}
    assert split_events(later, "1")[0].key != key


def test_other_webhooks_have_stable_keys() -> None:
    assert split_events(CALL, "1")[0].key == split_events(copy.deepcopy(CALL), "1")[0].key
    assert split_events(DEVICE, "1")[0].key == split_events(copy.deepcopy(DEVICE), "1")[0].key
    assert split_events(DEVICE, "1")[0].key != split_events(CALL, "1")[0].key


def test_echo_and_status_of_the_same_message_do_not_collide() -> None:
    echo = {**ECHO_API, "idMessage": "X1"}
    sent = {**status("sent"), "idMessage": "X1", "chatId": ECHO_API["senderData"]["chatId"]}
    assert split_events(echo, "1")[0].key != split_events(sent, "1")[0].key


def test_empty_poll_answer_has_no_events() -> None:
    assert split_events(None, "1") == []
    assert split_events("garbage", "1") == []


def test_unreadable_body_still_becomes_one_ignored_event() -> None:
    [event] = split_events({"something": "else"}, "1")
    assert normalize(event.payload).kind is InboundKind.IGNORED


# ------------------------------------------------------------------------------ webhook token


def test_webhook_token_check() -> None:
    assert webhook_authorized("Bearer s3cret", "s3cret")
    assert webhook_authorized("bearer  s3cret ", "s3cret")
    assert webhook_authorized("s3cret", "s3cret")
    assert not webhook_authorized("Bearer wrong", "s3cret")
    assert not webhook_authorized(None, "s3cret")
    assert not webhook_authorized("", "s3cret")
    assert not webhook_authorized("Bearer ", "")
