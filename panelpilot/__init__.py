"""panelpilot: WhatsApp and Telegram support and commerce bots for SMM panels."""

__version__ = "0.1.0"
