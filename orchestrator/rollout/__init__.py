"""Rolling a WAR across the fleet through the collection's playbooks: the plan and its dry run, the
roll followed event by event, blue/green switches and the end of their window, putting back the nodes
a failed roll switched, reconciling after a crash, and `apply` (nodes joining and leaving)."""
