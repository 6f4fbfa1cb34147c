"""Local stand-ins for the services around the app, used by the tests and `sla-bot demo`."""

from sla_sandbox.standins.server import LoopbackServer
from sla_sandbox.standins.slack import FAKE_TOKEN, FakeSlack, RecordedCall, RecordedMessage

__all__ = ["FAKE_TOKEN", "FakeSlack", "LoopbackServer", "RecordedCall", "RecordedMessage"]
from sla_sandbox.standins.github import FakeGitHub
from sla_sandbox.standins.github_http import RecordedCall as GitHubCall

__all__ += ["FakeGitHub", "GitHubCall"]
