"""SMM order support: service rules, chat command grammar, eligibility checks and dispatch.

Importing the package registers its customer templates, so that every interface (API, files,
console) knows them before any message is handled.
"""

from panelpilot.orders import templates as _templates  # noqa: F401  (registers the defaults)
