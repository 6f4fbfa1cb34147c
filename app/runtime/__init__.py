"""The runtime: the worker that processes deliveries, sends the outbox, sweeps, and keeps
the store in step with GitHub (redeliveries, reconciles), under fenced, leased claims."""
