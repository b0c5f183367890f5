"""SMM panel adapters and the workspace panel connection.

``make_adapter(panel_type, base_url=…, api_key=…, user_api_key=…, http=…)`` gives a
``PanelAdapter`` (see ``panels.base``); ``SmmApiClient`` talks to any user/provider API v2.
"""
