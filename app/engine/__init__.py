"""The engine: stored deliveries processed and the outbox sent, each claimed by one worker
(leases), in the receiver's process (SQLite) or a process of its own (PostgreSQL)."""
