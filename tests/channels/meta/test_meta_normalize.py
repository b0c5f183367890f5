"""Cutting Meta webhook bodies into events and normalizing them, on payloads shaped like Meta's."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from panelpilot.channels.base import InboundKind
from panelpilot.channels.meta.normalize import normalize, phone_number_id_of, split_events
from panelpilot.channels.meta.signature import sign, verify_signature

PNID = "106540352242922"
METADATA = {"display_phone_number": "15550783881", "phone_number_id": PNID}
WAMID = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
OURS = "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3MTE5MjVBOTE3MDk5QUVFM0YA"


def body(
    value: dict[str, Any], field: str = "messages", waba: str = "102290129340398"
) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": waba,
                "changes": [
                    {
                        "value": {"messaging_product": "whatsapp", "metadata": METADATA, **value},
                        "field": field,
                    }
                ],
            }
        ],
    }


def inbound(message: dict[str, Any], name: str = "Sheena Nelson") -> dict[str, Any]:
    return body(
        {
            "contacts": [{"profile": {"name": name}, "wa_id": "16505551234"}],
            "messages": [
                {"from": "16505551234", "id": WAMID, "timestamp": "1749416383", **message}
            ],
        }
    )


def only(payload: dict[str, Any]) -> Any:
    [event] = split_events(payload)
    return event, normalize(event.payload)


# ---------------------------------------------------------------------------- messages


def test_text_message() -> None:
    event, result = only(inbound({"type": "text", "text": {"body": "2274209 refill"}}))
    assert event.key == WAMID
    assert event.payload["metadata"]["phone_number_id"] == PNID
    assert event.payload["contact"]["wa_id"] == "16505551234"
    assert result.kind is InboundKind.MESSAGE
    assert result.text == "2274209 refill"
    assert (result.chat_id, result.sender_id, result.chat_type) == (
        "16505551234",
        "16505551234",
        "private",
    )
    assert result.sender_name == "Sheena Nelson"
    assert result.message_id == WAMID
    assert result.occurred_at == datetime.fromtimestamp(1749416383, UTC)
    assert result.extra["phone_number_id"] == PNID
    assert result.reply_to is None


def test_reply_context_becomes_reply_to() -> None:
    message = {
        "type": "text",
        "text": {"body": "this one"},
        "context": {"from": "15550783881", "id": OURS, "forwarded": True},
    }
    _, result = only(inbound(message))
    assert result.reply_to == OURS
    assert result.extra["forwarded"] is True


def test_button_reply_is_a_message_with_callback_data() -> None:
    message = {
        "type": "interactive",
        "context": {"from": "15550783881", "id": OURS},
        "interactive": {
            "type": "button_reply",
            "button_reply": {"id": "refill:2274209", "title": "Refill"},
        },
    }
    _, result = only(inbound(message))
    assert result.kind is InboundKind.MESSAGE
    assert (result.callback_data, result.text, result.reply_to) == (
        "refill:2274209",
        "Refill",
        OURS,
    )
    assert result.extra["interactive"] == "button_reply"


def test_list_reply() -> None:
    message = {
        "type": "interactive",
        "context": {"from": "15550783881", "id": OURS},
        "interactive": {
            "type": "list_reply",
            "list_reply": {
                "id": "priority_express",
                "title": "Priority Mail Express",
                "description": "Next Day to 2 Days",
            },
        },
    }
    _, result = only(inbound(message))
    assert (result.callback_data, result.text) == ("priority_express", "Priority Mail Express")
    assert result.extra["description"] == "Next Day to 2 Days"


def test_template_quick_reply_button() -> None:
    message = {
        "type": "button",
        "context": {"from": "15550783881", "id": OURS},
        "button": {"payload": "STOP_PROMOS", "text": "Stop promotions"},
    }
    _, result = only(inbound(message))
    assert (result.callback_data, result.text) == ("STOP_PROMOS", "Stop promotions")


@pytest.mark.parametrize("mtype", ["image", "video", "document"])
def test_media_caption_is_the_text(mtype: str) -> None:
    media = {
        "caption": "2274210 speed",
        "mime_type": "image/jpeg",
        "sha256": "abc",
        "id": "1003383421387256",
    }
    _, result = only(inbound({"type": mtype, mtype: media}))
    assert result.kind is InboundKind.MESSAGE
    assert result.text == "2274210 speed"
    assert result.extra["media_id"] == "1003383421387256"


@pytest.mark.parametrize(
    "message",
    [
        {"type": "audio", "audio": {"mime_type": "audio/ogg; codecs=opus", "id": "1"}},
        {"type": "sticker", "sticker": {"mime_type": "image/webp", "id": "2", "animated": False}},
        {"type": "image", "image": {"id": "3"}},
        {"type": "location", "location": {"latitude": 37.48, "longitude": -122.14}},
        {"type": "unsupported", "errors": [{"code": 131051, "title": "Message type unknown"}]},
        {"type": "request_welcome"},
        {"type": "brand_new_type", "brand_new_type": {"x": 1}},
    ],
)
def test_types_without_text_are_messages_with_no_text(message: dict[str, Any]) -> None:
    _, result = only(inbound(message))
    assert result.kind is InboundKind.MESSAGE
    assert result.text is None
    assert result.sender_id == "16505551234"


def test_reaction() -> None:
    _, result = only(
        inbound({"type": "reaction", "reaction": {"message_id": OURS, "emoji": "\U0001f44d"}})
    )
    assert result.kind is InboundKind.MESSAGE and result.text is None
    assert result.extra["reaction"] == {"message_id": OURS, "emoji": "\U0001f44d"}


def test_user_changed_number_is_ignored_but_kept() -> None:
    message = {
        "type": "system",
        "system": {
            "body": "User Sheena Nelson changed from 16505551234 to 12195555358",
            "wa_id": "12195555358",
            "type": "user_changed_number",
        },
    }
    _, result = only(inbound(message))
    assert result.kind is InboundKind.IGNORED
    assert result.extra["system"]["wa_id"] == "12195555358"


def test_business_scoped_user_id_without_phone_number() -> None:
    payload = body(
        {
            "contacts": [
                {
                    "profile": {"name": "Bob", "username": "@bob"},
                    "user_id": "US.13491208655302741918",
                    "parent_user_id": "US.ENT.11815799212886844830",
                }
            ],
            "messages": [
                {
                    "id": WAMID,
                    "timestamp": "1749416383",
                    "type": "text",
                    "from_user_id": "US.13491208655302741918",
                    "text": {"body": "hi"},
                }
            ],
        }
    )
    _, result = only(payload)
    assert result.sender_id == "US.13491208655302741918"
    assert result.chat_id == "US.13491208655302741918"
    assert result.extra["user_id"] == "US.13491208655302741918"
    assert result.extra["parent_user_id"] == "US.ENT.11815799212886844830"
    assert result.extra["username"] == "@bob"


def test_phone_number_and_bsuid_together() -> None:
    payload = inbound({"type": "text", "text": {"body": "hi"}})
    payload["entry"][0]["changes"][0]["value"]["contacts"][0]["user_id"] = "US.1349"
    _, result = only(payload)
    assert result.sender_id == "16505551234"
    assert result.extra["user_id"] == "US.1349"


def test_group_message() -> None:
    _, result = only(
        inbound(
            {
                "type": "text",
                "text": {"body": "hi all"},
                "group_id": "Y2FwaV9ncm91cDoxNjUwNTU1MTIzNDoxMjAzNjMzOTQ",
            }
        )
    )
    assert result.chat_type == "group"
    assert result.chat_id == "Y2FwaV9ncm91cDoxNjUwNTU1MTIzNDoxMjAzNjMzOTQ"
    assert result.sender_id == "16505551234"


# ---------------------------------------------------------------------------- statuses


def status(state: str, message_id: str = OURS, **more: Any) -> dict[str, Any]:
    return {
        "id": message_id,
        "status": state,
        "timestamp": "1750263773",
        "recipient_id": "16505551234",
        **more,
    }


def test_batched_statuses_become_one_event_each() -> None:
    pricing = {
        "billable": False,
        "pricing_model": "PMP",
        "category": "service",
        "type": "free_customer_service",
    }
    payload = body(
        {
            "statuses": [
                status(
                    "sent",
                    pricing=pricing,
                    conversation={"id": "c1", "origin": {"type": "service"}},
                ),
                status("delivered", pricing=pricing),
                status("read", "wamid.other"),
            ]
        }
    )
    events = split_events(payload)
    assert [e.key for e in events] == [f"{OURS}:sent", f"{OURS}:delivered", "wamid.other:read"]
    results = [normalize(e.payload) for e in events]
    assert all(r.kind is InboundKind.STATUS for r in results)
    assert [(r.status_of, r.status) for r in results] == [
        (OURS, "sent"),
        (OURS, "delivered"),
        ("wamid.other", "read"),
    ]
    assert results[0].chat_id == "16505551234"
    assert results[0].extra["pricing"]["category"] == "service"
    assert results[0].occurred_at == datetime.fromtimestamp(1750263773, UTC)


def test_failed_status_carries_the_error() -> None:
    error = {
        "code": 131047,
        "title": "Re-engagement message",
        "message": "Re-engagement message",
        "error_data": {
            "details": "Message failed to send because more than 24 hours have "
            "passed since the customer last replied to this number."
        },
        "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
    }
    _, result = only(body({"statuses": [status("failed", errors=[error])]}))
    assert (result.kind, result.status) == (InboundKind.STATUS, "failed")
    assert result.extra["error_code"] == 131047
    assert result.extra["error_title"] == "Re-engagement message"
    assert "24 hours" in result.extra["error_details"]


def test_several_entries_changes_messages_and_statuses_in_one_body() -> None:
    first = inbound({"type": "text", "text": {"body": "one"}})
    second = copy.deepcopy(first)
    value = second["entry"][0]["changes"][0]["value"]
    value["messages"].append(
        {
            "from": "16505551234",
            "id": "wamid.two",
            "timestamp": "1749416390",
            "type": "text",
            "text": {"body": "two"},
        }
    )
    value["statuses"] = [status("delivered")]
    other_number = body({"statuses": [status("read", "wamid.x")]})
    other_number["entry"][0]["changes"][0]["value"]["metadata"] = {
        "display_phone_number": "15550000000",
        "phone_number_id": "999",
    }
    payload = {
        "object": "whatsapp_business_account",
        "entry": first["entry"] + second["entry"] + other_number["entry"],
    }
    events = split_events(payload)
    assert [e.key for e in events] == [
        WAMID,
        WAMID,
        "wamid.two",
        f"{OURS}:delivered",
        "wamid.x:read",
    ]
    assert [phone_number_id_of(e.payload) for e in events] == [PNID] * 4 + ["999"]
    assert [normalize(e.payload).text for e in events[:3]] == ["one", "one", "two"]


def test_events_are_self_contained_and_json_safe() -> None:
    import json

    for event in split_events(inbound({"type": "text", "text": {"body": "x"}})):
        restored = json.loads(json.dumps(event.payload))
        assert normalize(restored) == normalize(event.payload)


# ---------------------------------------------------------------------------- other fields


def test_business_app_echo() -> None:
    echo = {
        "from": "15550783881",
        "to": "16505551234",
        "id": "wamid.echo1",
        "timestamp": "1739321024",
        "type": "text",
        "text": {"body": "Here's the info you requested! https://www.meta.com/quest/quest-3/"},
    }
    event, result = only(body({"message_echoes": [echo]}, field="smb_message_echoes"))
    assert event.key == "wamid.echo1:echo"
    assert result.kind is InboundKind.ECHO
    assert (result.chat_id, result.sender_id) == ("16505551234", "15550783881")
    assert result.text.startswith("Here's the info")


def test_other_fields_are_ignored_with_a_stable_key() -> None:
    payload = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "1",
                "time": 1,
                "changes": [
                    {
                        "field": "account_update",
                        "value": {"phone_number": "15550783881", "event": "VERIFIED_ACCOUNT"},
                    }
                ],
            }
        ],
    }
    [event] = split_events(payload)
    assert event.key.startswith("account_update:")
    assert split_events(copy.deepcopy(payload))[0].key == event.key
    assert normalize(event.payload).kind is InboundKind.IGNORED


def test_value_level_errors_are_ignored() -> None:
    payload = body({"errors": [{"code": 131000, "title": "Something went wrong"}]})
    [event] = split_events(payload)
    result = normalize(event.payload)
    assert result.kind is InboundKind.IGNORED
    assert result.extra["errors"][0]["code"] == 131000


def test_normalize_accepts_a_whole_body() -> None:
    result = normalize(inbound({"type": "text", "text": {"body": "hi"}}))
    assert (result.kind, result.text) == (InboundKind.MESSAGE, "hi")


def test_raw_body_bytes_are_accepted() -> None:
    import json

    raw = json.dumps(inbound({"type": "text", "text": {"body": "hi"}})).encode()
    assert [e.key for e in split_events(raw)] == [WAMID]
    assert normalize(raw).text == "hi"
    assert phone_number_id_of(raw) == PNID
    assert split_events(b"<html>") == [] and normalize(b"\xff").kind is InboundKind.IGNORED


def test_phone_number_id_of() -> None:
    assert phone_number_id_of(inbound({"type": "text", "text": {"body": "x"}})) == PNID
    assert phone_number_id_of({"entry": [{"changes": [{"value": {}}]}]}) is None
    assert phone_number_id_of(None) is None
    assert phone_number_id_of({"entry": "nope"}) is None


# ---------------------------------------------------------------------------- malformed


@pytest.mark.parametrize(
    "payload",
    [
        None,
        [],
        "text",
        42,
        {},
        {"entry": None},
        {"entry": "x"},
        {"entry": [None, 1, "x"]},
        {"entry": [{"changes": None}]},
        {"entry": [{"changes": [{"value": []}]}]},
        {"entry": [{"changes": [{"field": "messages", "value": {"messages": "x"}}]}]},
        {"entry": [{"changes": [{"field": "messages", "value": {"messages": [None, {}]}}]}]},
        {"entry": [{"changes": [{"field": "messages", "value": {"statuses": [{"id": 5}]}}]}]},
    ],
)
def test_malformed_bodies_never_raise(payload: Any) -> None:
    for event in split_events(payload):
        normalize(event.payload)
    normalize(payload)


@pytest.mark.parametrize(
    "message",
    [
        {"type": "text", "text": None},
        {"type": "text", "text": {"body": 5}},
        {"type": "interactive", "interactive": "button_reply"},
        {"type": "interactive", "interactive": {"type": "button_reply", "button_reply": None}},
        {"type": "button", "button": []},
        {"type": None, "timestamp": "not-a-number", "from": 16505551234, "id": 7},
        {"timestamp": "99999999999999999999", "context": "x"},
        {"type": "edit", "edit": None},
    ],
)
def test_odd_messages_normalize_without_raising(message: dict[str, Any]) -> None:
    _, result = only(inbound(message))
    assert result.kind in (InboundKind.MESSAGE, InboundKind.EDIT, InboundKind.IGNORED)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "entry",
                    "changes",
                    "value",
                    "field",
                    "messages",
                    "statuses",
                    "id",
                    "type",
                    "text",
                    "body",
                    "from",
                    "timestamp",
                    "metadata",
                    "contacts",
                    "interactive",
                    "context",
                    "message",
                    "status",
                    "echo",
                    "errors",
                ]
            ),
            inner,
            max_size=4,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_any_json_never_raises(payload: Any) -> None:
    for event in split_events(payload):
        assert isinstance(event.key, str) and event.key
        normalize(event.payload)
    normalize(payload)


# ---------------------------------------------------------------------------- signatures


def test_signature_good_bad_missing_malformed() -> None:
    raw = b'{"object":"whatsapp_business_account","text":"\\u00e4\\u00f6\\u00e5"}'
    header = sign("s3cret", raw)
    assert header.startswith("sha256=") and len(header) == 7 + 64
    assert verify_signature("s3cret", raw, header)
    assert verify_signature("s3cret", raw, header.upper().replace("SHA256=", "sha256="))
    assert verify_signature("s3cret", raw, f"  {header} ")
    assert not verify_signature("s3cret", raw + b" ", header)
    assert not verify_signature("other", raw, header)
    assert not verify_signature("", raw, sign("", raw))
    for bad in (
        None,
        "",
        "sha256=",
        "sha1=" + header[7:],
        header[7:],
        "sha256=xyz",
        header[:-1],
        header + "0",
        "sha256=" + "g" * 64,
        "sha256= " + header[7:-1],
    ):
        assert not verify_signature("s3cret", raw, bad), bad


def test_signature_covers_escaped_bytes_not_decoded_json() -> None:
    import json

    raw = b'{"text":"\\u00e4"}'
    decoded_again = json.dumps(json.loads(raw), ensure_ascii=False).encode()
    assert not verify_signature("k", decoded_again, sign("k", raw))
