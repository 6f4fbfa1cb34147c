"""Local stand-ins for the services around the app, used by the tests and `sla-bot demo`."""

from app.standins.server import LoopbackServer
from app.standins.slack import FAKE_TOKEN, FakeSlack, RecordedCall, RecordedMessage

__all__ = ["FAKE_TOKEN", "FakeSlack", "LoopbackServer", "RecordedCall", "RecordedMessage"]
from app.standins.github import FakeGitHub
from app.standins.github_http import RecordedCall as GitHubCall

__all__ += ["FakeGitHub", "GitHubCall"]
