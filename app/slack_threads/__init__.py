"""Requests from Slack: a message in a claimed channel becomes an issue, and the thread and
the issue stay in step (POST /slack/events; the policy's `intake.slack`)."""
