"""Local stand-ins for the services around the app, used by the tests and `sla-bot demo`."""

from app.standins.server import LoopbackServer
from app.standins.slack import FAKE_TOKEN, FakeSlack, RecordedCall, RecordedMessage

__all__ = ["FAKE_TOKEN", "FakeSlack", "LoopbackServer", "RecordedCall", "RecordedMessage"]
