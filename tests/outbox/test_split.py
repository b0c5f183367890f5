"""Long texts are split at the channel's limit on line boundaries; statuses only move forward."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from panelpilot.inbox.process import merge_delivery
from panelpilot.outbox.enqueue import split_text, utf16_len


def test_short_text_is_one_part() -> None:
    assert split_text("hello", 10) == ["hello"]


def test_split_on_lines() -> None:
    text = "\n".join(f"line {i}" for i in range(10))
    parts = split_text(text, 20)
    assert all(len(p) <= 20 for p in parts)
    assert "\n".join(parts) == text


def test_a_line_longer_than_the_limit_is_cut_at_spaces() -> None:
    text = " ".join(["word"] * 50)
    parts = split_text(text, 30)
    assert all(len(p) <= 30 for p in parts)
    assert " ".join(parts).split() == text.split()


def test_telegram_counts_utf16_units() -> None:
    text = "😀" * 3000  # 6000 UTF-16 units, 3000 Python characters
    parts = split_text(text, 4096, utf16_len)
    assert len(parts) == 2 and all(utf16_len(p) <= 4096 for p in parts)
    assert "".join(parts) == text


@given(st.text(min_size=1, max_size=3000), st.integers(min_value=5, max_value=500))
def test_every_part_fits_and_nothing_is_lost(text: str, limit: int) -> None:
    parts = split_text(text, limit, utf16_len)
    assert all(utf16_len(p) <= limit for p in parts)
    assert "".join("".join(parts).split()) == "".join(text.split()) or not text.strip()


def test_delivery_statuses_merge_monotonically() -> None:
    assert merge_delivery(None, "sent") == "sent"
    assert merge_delivery("read", "delivered") == "read"
    assert merge_delivery("delivered", "sent") == "delivered"
    assert merge_delivery("sent", "read") == "read"
    assert merge_delivery("delivered", "failed") == "delivered"
    assert merge_delivery("sent", "failed") == "failed"
    assert merge_delivery("failed", "read") == "read"
    assert merge_delivery("read", "weird") == "read"
