"""The local sandbox: HAProxy, Tomcat nodes and PostgreSQL on loopback addresses, set up by the same
roles as production. Only `orchestrator sandbox` and the tests import it; a production install never does."""
