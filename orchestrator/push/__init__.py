"""From a push to a deploy request: the hooks that write flags into the spool, the spool, the watcher
that claims them and runs the pipeline, and a CI job's hand-off (`trigger --wait`)."""
