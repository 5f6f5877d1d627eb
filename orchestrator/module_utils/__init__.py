"""Code that runs on the managed hosts as well as here: standard library only.

The Ansible modules in library/ import these files as ``ansible.module_utils.<name>``
(ansible.cfg points module_utils here), and Ansible ships them with the module to the load
balancers and nodes, where this package is not installed and only a Python 3.8+ is. So a file
here imports nothing outside the standard library, and a neighbour only as
``try: from ansible.module_utils.X import ...`` / ``except ImportError: from
orchestrator.module_utils.X import ...`` (tests/unit/test_stdlib_only.py fails otherwise). The orchestrator imports
them as ``orchestrator.module_utils.<name>``: the controller and the hosts judge, parse and
decide with the same code.
"""
