"""Send WhatsApp messages through the Meta Cloud API (``POST /{version}/{phone_id}/messages``).

Every failure becomes a ``SendError`` whose reason the outbox and the console understand. Meta's
error ``code`` decides the reason, not the HTTP status: the same throttling code has been
documented with 400 and with 429 over time.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from panelpilot.channels.base import (
    BAD_REQUEST,
    BLOCKED,
    CHAT_NOT_FOUND,
    DISCONNECTED,
    MALFORMED,
    NETWORK,
    OUTSIDE_WINDOW,
    RATE_LIMITED,
    SERVER_ERROR,
    TIMEOUT,
    Button,
    Keyboard,
    SendError,
)

log = logging.getLogger(__name__)

TEXT_LIMIT = 4096  # characters in text.body
INTERACTIVE_BODY_LIMIT = 1024  # characters in interactive.body.text
BUTTON_TITLE_LIMIT = 20
BUTTON_ID_LIMIT = 256
MAX_REPLY_BUTTONS = 3

# Codes from Meta's Cloud API error reference, grouped by what the outbox should do.
OUTSIDE_WINDOW_CODES = frozenset({131047})
# Seconds to wait when Meta gives no hint: throughput is per second, the pair limit is about one
# message per 6 s to the same user, app / account call limits recover over minutes.
RATE_LIMIT_CODES: dict[int, float] = {130429: 1.0, 131056: 6.0, 131048: 60.0, 80007: 60.0, 4: 60.0}
# The token, permissions or the number itself are unusable until the owner acts.
DISCONNECTED_CODES = frozenset({0, 10, 104, 190, 131005, 131031, 133010, 368, 33})
BLOCKED_CODES = frozenset({131026})  # undeliverable: not on WhatsApp, old app, terms not accepted
CHAT_NOT_FOUND_CODES = frozenset({131030})  # test number: recipient not in the allowed list
SERVER_ERROR_CODES = frozenset({1, 2, 131000, 131016, 131057})


def _is_permission_code(code: int) -> bool:
    return 200 <= code <= 299


def error_for(
    code: int | None,
    *,
    http_status: int | None = None,
    message: str = "",
    details: str = "",
) -> SendError:
    """The ``SendError`` for a Graph error: a synchronous answer or a ``failed`` status's error."""
    detail = " - ".join(
        part for part in (f"#{code}" if code is not None else "", message, details) if part
    )
    if code in OUTSIDE_WINDOW_CODES:
        return SendError(OUTSIDE_WINDOW, detail, permanent=True, status_code=http_status)
    if code is not None and code in RATE_LIMIT_CODES:
        return SendError(
            RATE_LIMITED, detail, retry_after=RATE_LIMIT_CODES[code], status_code=http_status
        )
    if (
        http_status == 401
        or code in DISCONNECTED_CODES
        or (code is not None and _is_permission_code(code))
    ):
        return SendError(DISCONNECTED, detail, permanent=True, status_code=http_status)
    if code in BLOCKED_CODES:
        return SendError(BLOCKED, detail, permanent=True, status_code=http_status)
    if code in CHAT_NOT_FOUND_CODES:
        return SendError(CHAT_NOT_FOUND, detail, permanent=True, status_code=http_status)
    if http_status == 429:
        return SendError(RATE_LIMITED, detail, retry_after=1.0, status_code=http_status)
    if code in SERVER_ERROR_CODES or (http_status is not None and http_status >= 500):
        return SendError(SERVER_ERROR, detail, status_code=http_status)
    return SendError(BAD_REQUEST, detail, permanent=True, status_code=http_status)


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def error_from_response(http_status: int, body: Any) -> SendError:
    """Map a non-2xx Graph answer (already parsed JSON) to a ``SendError``."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return error_for(None, http_status=http_status, message=f"HTTP {http_status}")
    error_data = error.get("error_data")
    details = error_data.get("details") if isinstance(error_data, dict) else None
    message = error.get("message")
    return error_for(
        _int(error.get("code")),
        http_status=http_status,
        message=message if isinstance(message, str) else "",
        details=details if isinstance(details, str) else "",
    )


def keyboard_buttons(keyboard: Keyboard | None) -> list[Button]:
    return [button for row in keyboard or [] for button in row]


def numbered_text(text: str, buttons: list[Button]) -> str:
    """The keyboard as numbered lines under the text, for when reply buttons cannot carry it."""
    lines = []
    for number, button in enumerate(buttons, start=1):
        lines.append(
            f"{number}. {button.text}: {button.url}" if button.url else f"{number}. {button.text}"
        )
    return f"{text}\n\n" + "\n".join(lines) if lines else text


def _reply_buttons(text: str, buttons: list[Button]) -> dict[str, Any] | None:
    """An interactive reply-buttons object, or None when the keyboard does not fit one."""
    if not 1 <= len(buttons) <= MAX_REPLY_BUTTONS or len(text) > INTERACTIVE_BODY_LIMIT:
        return None
    if not text.strip() or any(b.url or not b.data for b in buttons):
        return None
    titles = [b.text.strip()[:BUTTON_TITLE_LIMIT] for b in buttons]
    ids = [b.data for b in buttons if b.data]
    # Meta rejects empty or duplicate titles and ids, and ids longer than 256 characters.
    if any(not t for t in titles) or len(set(titles)) != len(titles) or len(set(ids)) != len(ids):
        return None
    if any(len(i) > BUTTON_ID_LIMIT for i in ids):
        return None
    return {
        "type": "button",
        "body": {"text": text},
        "action": {
            "buttons": [
                {"type": "reply", "reply": {"id": i, "title": t}}
                for i, t in zip(ids, titles, strict=True)
            ]
        },
    }


class MetaClient:
    """One business phone number on the Cloud API."""

    def __init__(
        self,
        base_url: str,
        version: str,
        phone_number_id: str,
        access_token: str,
        http: httpx.AsyncClient,
    ) -> None:
        version = version.strip("/")
        if version and not version.startswith("v"):
            version = f"v{version}"
        self.base_url = base_url.rstrip("/")
        self.version = version
        self.phone_number_id = phone_number_id
        self._token = access_token
        self._http = http

    def __repr__(self) -> str:  # the token must never reach a log line or a traceback
        return f"MetaClient(phone_number_id={self.phone_number_id!r}, version={self.version!r})"

    @property
    def messages_url(self) -> str:
        return f"{self.base_url}/{self.version}/{self.phone_number_id}/messages"

    def build_text(
        self,
        chat_id: str,
        text: str,
        *,
        reply_to: str | None = None,
        keyboard: Keyboard | None = None,
    ) -> dict[str, Any]:
        """The request body ``send_text`` posts (exposed for tests and previews)."""
        buttons = keyboard_buttons(keyboard)
        body: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": chat_id,
        }
        interactive = _reply_buttons(text, buttons) if buttons else None
        if interactive is not None:
            body["type"] = "interactive"
            body["interactive"] = interactive
        else:
            full = numbered_text(text, buttons)
            body["type"] = "text"
            body["text"] = {"body": full, "preview_url": "https://" in full or "http://" in full}
        if reply_to:
            body["context"] = {"message_id": reply_to}
        return body

    async def send_text(
        self,
        chat_id: str,
        text: str,
        *,
        reply_to: str | None = None,
        keyboard: Keyboard | None = None,
    ) -> str:
        """Send and return the ``wamid`` of the new message, or raise ``SendError``."""
        body = self.build_text(chat_id, text, reply_to=reply_to, keyboard=keyboard)
        if body["type"] == "text" and len(body["text"]["body"]) > TEXT_LIMIT:
            raise SendError(
                BAD_REQUEST, f"text longer than {TEXT_LIMIT} characters", permanent=True
            )
        answer = await self._post(body)
        messages = answer.get("messages")
        first = messages[0] if isinstance(messages, list) and messages else None
        message_id = first.get("id") if isinstance(first, dict) else None
        if not isinstance(message_id, str) or not message_id:
            raise SendError(MALFORMED, "answer without messages[0].id")
        return message_id

    async def mark_read(self, message_id: str) -> None:
        """Mark an inbound message as read (blue ticks); raise ``SendError`` on failure."""
        await self._post(
            {"messaging_product": "whatsapp", "status": "read", "message_id": message_id}
        )

    async def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self._token}"}
        try:
            response = await self._http.post(self.messages_url, json=body, headers=headers)
        except httpx.TimeoutException as exc:
            raise SendError(TIMEOUT, type(exc).__name__) from None
        except httpx.HTTPError as exc:
            # str(exc) may include the URL but never the headers, so the token stays out.
            raise SendError(NETWORK, f"{type(exc).__name__}: {exc}") from None
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if response.is_success:
            if not isinstance(answer, dict):
                raise SendError(
                    MALFORMED,
                    f"HTTP {response.status_code}: not a JSON object",
                    status_code=response.status_code,
                )
            return answer
        status = response.status_code
        if answer is None and status < 500 and status not in (401, 429):
            raise SendError(MALFORMED, f"HTTP {status}: not JSON", status_code=status)
        error = error_from_response(status, answer)
        graph_error = answer.get("error") if isinstance(answer, dict) else None
        trace = graph_error.get("fbtrace_id") if isinstance(graph_error, dict) else None
        log.warning(
            "meta send failed",
            extra={
                "phone_number_id": self.phone_number_id,
                "http_status": status,
                "reason": error.reason,
                "detail": error.detail,
                "fbtrace_id": trace if isinstance(trace, str) else None,
            },
        )
        raise error
