"""Helpers the tests and the benchmarks share: a wrk load through HAProxy and what it saw
(load.py, load.lua), a bounded wait for a condition (load.wait_until), the bake judge run on
synthetic requests (judge_simulation.py), a prober that keeps every answer (probe.py), and a
webhook receiver (receiver.py), the orchestrator's command line (cli.py). No test lives here."""
