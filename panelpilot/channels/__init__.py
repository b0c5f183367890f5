"""Channel integrations: Telegram, WhatsApp through Green API, WhatsApp through Meta Cloud API."""
