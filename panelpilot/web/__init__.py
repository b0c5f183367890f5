"""The HTTP app: health, metrics, the JSON API, webhooks and the console."""
