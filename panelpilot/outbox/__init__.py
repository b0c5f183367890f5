"""The outbox: every send is a row first, sent under rate limits, every attempt logged."""
