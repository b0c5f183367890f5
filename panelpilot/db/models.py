"""Imports every table so that the metadata is complete (migrations, checks, tests)."""

from panelpilot.channels.models import ChannelAccount
from panelpilot.chats.models import Chat, ChatAlias
from panelpilot.conversation.models import FlowState
from panelpilot.db.base import Base
from panelpilot.inbox.models import InboundEvent
from panelpilot.orders import models as orders_models  # noqa: F401  (order support tables)
from panelpilot.outbox.models import OutboundAttempt, OutboundMessage
from panelpilot.panels.connection import PanelConnection
from panelpilot.runners.models import RateBucket, RunnerState
from panelpilot.templates.models import DefaultTemplate, Template
from panelpilot.tenancy.models import ApiToken, Membership, User, Workspace
from panelpilot.vault.models import Secret

metadata = Base.metadata

__all__ = [
    "ApiToken", "ChannelAccount", "Chat", "ChatAlias", "DefaultTemplate", "FlowState",
    "InboundEvent", "Membership",
    "OutboundAttempt", "OutboundMessage", "PanelConnection", "RateBucket", "RunnerState",
    "Secret", "Template", "User", "Workspace", "metadata",
]
