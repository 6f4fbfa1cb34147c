"""Stand-ins for GitHub, Slack, PagerDuty and Twilio that behave as their docs describe, and
the `demo` and `sandbox` commands built on them. Shipped with sla-bot, apart from the app."""
