"""The fleet and how to reach it: the Ansible inventory read and checked, the roster of nodes last
deployed to, ansible-runner, and what each node and load balancer runs right now."""
