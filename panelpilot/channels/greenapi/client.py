"""Async client of the Green API methods panelpilot uses, with failures mapped to SendError.

The official Python client is synchronous, so this is a small one of our own over httpx. The
instance token is part of every URL path (``/waInstance{id}/{method}/{token}``): it is never put
in an error, a log line or a repr.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Callable
from typing import Any

import httpx

from panelpilot.channels.base import (
    BAD_REQUEST,
    DISCONNECTED,
    MALFORMED,
    NETWORK,
    RATE_LIMITED,
    SERVER_ERROR,
    TIMEOUT,
    Keyboard,
    SendError,
)

TEXT_LIMIT = 20000  # sendMessage: "The maximum length of a text message is 20000 characters"
QUOTA_EXCEEDED = "quota_exceeded"  # HTTP 466: the plan's monthly quota is used up
DEFAULT_RETRY_AFTER = 1.0  # Green API's 429 carries no Retry-After; its limits are per second
DEFAULT_TIMEOUT = 20.0

# What a webhook/notification setup needs switched on; every setting is off on a new instance.
NOTIFICATION_SETTINGS = {
    "incomingWebhook": "yes",
    "outgoingWebhook": "yes",
    "outgoingAPIMessageWebhook": "yes",
    "outgoingMessageWebhook": "yes",
    "stateWebhook": "yes",
    "editedMessageWebhook": "yes",
}


class GreenApiClient:
    """One Green API instance. ``base_url`` is the instance's apiUrl (or a simulator)."""

    def __init__(
        self,
        base_url: str,
        id_instance: str,
        api_token: str,
        http: httpx.AsyncClient,
        *,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.id_instance = str(id_instance)
        self._token = api_token
        self._http = http
        self._timeout = timeout

    def __repr__(self) -> str:
        return f"GreenApiClient({self.base_url!r}, {self.id_instance!r})"

    async def send_text(
        self,
        chat_id: str,
        text: str,
        *,
        reply_to: str | None = None,
        keyboard: Keyboard | None = None,
    ) -> str:
        """Send a text message; returns Green API's idMessage."""
        message = render_text(text, keyboard)
        if len(message) > TEXT_LIMIT:
            raise SendError(
                BAD_REQUEST,
                f"message is {len(message)} characters, over {TEXT_LIMIT}",
                permanent=True,
            )
        body: dict[str, Any] = {"chatId": chat_id, "message": message}
        if reply_to:
            body["quotedMessageId"] = reply_to
        answer = await self._call("POST", "sendMessage", json_body=body)
        id_message = answer.get("idMessage") if isinstance(answer, dict) else None
        if not isinstance(id_message, str) or not id_message:
            raise SendError(MALFORMED, "sendMessage answer has no idMessage", status_code=200)
        return id_message

    async def set_settings(self, webhook_url: str, webhook_token: str, **settings: Any) -> bool:
        """Point notifications at ``webhook_url`` (empty: use receiveNotification instead)."""
        body: dict[str, Any] = {
            "webhookUrl": webhook_url,
            "webhookUrlToken": webhook_token,
            **NOTIFICATION_SETTINGS,
            **settings,
        }
        answer = await self._call("POST", "setSettings", json_body=body)
        return bool(_field(answer, "saveSettings", "setSettings"))

    async def get_settings(self) -> dict[str, Any]:
        answer = await self._call("GET", "getSettings")
        if not isinstance(answer, dict):
            raise SendError(MALFORMED, "getSettings answer is not an object", status_code=200)
        return answer

    async def get_state(self) -> str:
        """The instance state: authorized, notAuthorized, blocked, sleepMode, starting, ..."""
        state = _field(
            await self._call("GET", "getStateInstance"), "stateInstance", "getStateInstance"
        )
        if not isinstance(state, str) or not state:
            raise SendError(MALFORMED, "getStateInstance answer has no stateInstance")
        return state

    async def receive_notification(self, timeout: int = 5) -> dict[str, Any] | None:  # noqa: ASYNC109 -- server-side wait
        """Long-poll for the next notification: ``{"receiptId", "body"}`` or None when empty.

        ``timeout`` is Green API's receiveTimeout (5..60 s): how long the server holds the call.
        """
        wait = max(5, min(60, int(timeout)))
        answer = await self._call(
            "GET",
            "receiveNotification",
            params={"receiveTimeout": wait},
            wait_limit=wait + self._timeout,
        )
        if answer is None:
            return None
        if not isinstance(answer, dict) or "receiptId" not in answer:
            raise SendError(MALFORMED, "receiveNotification answer has no receiptId")
        return answer

    async def delete_notification(self, receipt_id: int | str) -> bool:
        answer = await self._call("DELETE", "deleteNotification", suffix=f"/{receipt_id}")
        return bool(_field(answer, "result", "deleteNotification"))

    async def _call(
        self,
        verb: str,
        method: str,
        *,
        json_body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        suffix: str = "",
        wait_limit: float | None = None,
    ) -> Any:
        url = f"{self.base_url}/waInstance{self.id_instance}/{method}/{self._token}{suffix}"
        try:
            response = await self._http.request(
                verb,
                url,
                json=json_body,
                params=params,
                timeout=wait_limit if wait_limit is not None else self._timeout,
            )
        except httpx.TimeoutException as exc:
            raise SendError(TIMEOUT, f"{method}: {type(exc).__name__}") from None
        except httpx.HTTPError as exc:
            # httpx messages can quote the URL, and with it the token
            raise SendError(
                NETWORK, f"{method}: {self._scrub(str(exc)) or type(exc).__name__}"
            ) from None
        return _answer(method, response, self._scrub)

    def _scrub(self, text: str) -> str:
        return text.replace(self._token, "***") if self._token else text


def render_text(text: str, keyboard: Keyboard | None) -> str:
    """WhatsApp through Green API has no inline keyboards: buttons become numbered lines."""
    if not keyboard:
        return text
    lines = []
    number = 0
    for row in keyboard:
        for button in row:
            number += 1
            line = f"{number}. {button.text}"
            if button.url:
                line += f": {button.url}"
            lines.append(line)
    if not lines:
        return text
    return f"{text}\n\n" + "\n".join(lines) if text else "\n".join(lines)


def _answer(method: str, response: httpx.Response, scrub: Callable[[str], str]) -> Any:
    status = response.status_code
    body = _json_or_none(response)
    if 200 <= status < 300:
        if body is _NOT_JSON:
            raise SendError(MALFORMED, f"{method}: answer is not JSON", status_code=status)
        # Some Green API errors come as HTTP 200 with {"code": 4xx, "description": ...}
        if isinstance(body, dict) and isinstance(body.get("code"), int) and body["code"] >= 400:
            raise _error(method, body["code"], body, response, scrub)
        return body
    raise _error(method, status, body, response, scrub)


def _error(
    method: str, status: int, body: Any, response: httpx.Response, scrub: Callable[[str], str]
) -> SendError:
    detail = f"{method}: HTTP {status}"
    described = _description(body)
    if described:
        detail += f" {scrub(described)[:300]}"
    if status == 429:
        return SendError(
            RATE_LIMITED, detail, retry_after=_retry_after(response), status_code=status
        )
    if status in (401, 403):
        return SendError(DISCONNECTED, detail, permanent=True, status_code=status)
    if status == 466:
        return SendError(QUOTA_EXCEEDED, detail, permanent=True, status_code=status)
    if status >= 500:
        return SendError(SERVER_ERROR, detail, status_code=status)
    if status == 408:
        return SendError(TIMEOUT, detail, status_code=status)
    lowered = (described or "").lower()
    if "starting" in lowered:
        # the instance is rebooting: it comes back by itself within minutes
        return SendError(DISCONNECTED, detail, status_code=status)
    if "authoriz" in lowered or "blocked" in lowered:
        # an instance that is not authorized answers 400, not 401
        return SendError(DISCONNECTED, detail, permanent=True, status_code=status)
    if body is _NOT_JSON and status not in (400, 404):
        return SendError(MALFORMED, detail, status_code=status)
    return SendError(BAD_REQUEST, detail, permanent=True, status_code=status)


_NOT_JSON = object()


def _json_or_none(response: httpx.Response) -> Any:
    if not response.content.strip():
        return None if response.status_code < 300 else _NOT_JSON
    try:
        return json.loads(response.content)
    except ValueError:
        return _NOT_JSON


def _description(body: Any) -> str | None:
    if isinstance(body, dict):
        parts = [str(body[key]) for key in ("description", "message", "error") if body.get(key)]
        invoke = body.get("invokeStatus")
        if isinstance(invoke, dict) and invoke.get("description"):
            parts.append(str(invoke["description"]))
        return " ".join(parts) or None
    if isinstance(body, str):
        return body
    return None


def _retry_after(response: httpx.Response) -> float:
    header = response.headers.get("Retry-After")
    if header:
        try:
            return max(0.0, float(header))
        except ValueError:
            pass
        try:
            when = email.utils.parsedate_to_datetime(header)
        except (TypeError, ValueError):
            return DEFAULT_RETRY_AFTER
        return max(0.0, when.timestamp() - time.time())
    return DEFAULT_RETRY_AFTER


def _field(answer: Any, name: str, method: str) -> Any:
    if not isinstance(answer, dict) or name not in answer:
        raise SendError(MALFORMED, f"{method}: answer has no {name}")
    return answer[name]
