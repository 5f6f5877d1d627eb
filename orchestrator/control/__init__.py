"""What an operator asks of the fleet outside a deploy's own course: the gatekeeper's requests to a
running roll (pause, resume, abort, promote) and maintenance mode."""
