"""What the orchestrator remembers: the history (deploys, the release ledger, verdicts, deliveries,
actions) in SQLite, and the deploy lock."""
