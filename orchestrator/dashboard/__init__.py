"""The web dashboard and the Prometheus endpoint: what the orchestrator knows, as pages.

settings (the [dashboard] table, the token), records (the history, read for pages), fleet_feed
(HAProxy and the nodes, read live in the background), evidence (a verdict as charts), timeline
(a deploy's stages and phases to scale), metrics (/metrics), actions (token, CSRF, the verbs),
app (the routes), server (the listener).
"""
