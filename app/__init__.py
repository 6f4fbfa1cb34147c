"""sla-bot: a GitHub App that runs customer service requests on GitHub issues."""

__version__ = "0.1.0"
