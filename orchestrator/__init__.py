"""Continuous deployment of Java web applications to Tomcat behind HAProxy, through Ansible."""

__version__ = "0.1.0"
