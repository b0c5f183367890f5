"""Loopback simulators of every outside API panelpilot talks to."""
