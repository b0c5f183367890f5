"""Periodic and long-running background runners, each held by one node at a time via a lease."""
