"""The capacity guard's rule as a pure function (plugins/module_utils/capacity.py): the
haproxy_server module applies it live on each load balancer, the dry run on the states it read."""

from __future__ import annotations

import pytest

from ansible_collections.orchestrator.fleet.plugins.module_utils.capacity import judge, min_up


@pytest.mark.parametrize(
    "min_healthy, fleet, needed",
    [(2, 3, 2), ("2", 3, 2), ("67%", 3, 3), ("66%", 3, 2), ("50%", 3, 2), ("0%", 5, 0), ("100%", 4, 4), (" 1 ", 2, 1)],
)
def test_min_healthy_is_a_count_or_a_percentage_of_the_fleet_rounded_up(min_healthy, fleet, needed):
    assert min_up(min_healthy, fleet) == needed


def test_a_batch_may_leave_while_enough_others_serve():
    # Given three serving servers and one that must stay up
    serving = {"node1": True, "node2": True, "node3": True}
    # When node1 leaves, Then node2 and node3 stay: allowed
    verdict = judge(serving, ["node1"], 1)
    assert verdict.allowed and verdict.staying_up == ["node2", "node3"] and verdict.needed == 1


def test_a_batch_that_would_leave_too_few_serving_is_refused_with_the_numbers():
    # Given node3 down, and two servers that must stay up
    serving = {"node1": True, "node2": True, "node3": False}
    # When node1 would leave
    verdict = judge(serving, ["node1"], 2)
    # Then only node2 stays: refused, and the message names the rule and the fix
    assert not verdict.allowed and verdict.staying_up == ["node2"]
    message = verdict.refusal("node1", "node3 is DOWN")
    assert "only 1 other server(s) would stay UP (node3 is DOWN), and at least 2 must" in message
    assert "lower deploy_min_healthy" in message


def test_the_whole_batch_leaves_together():
    # Given four serving servers, a batch of two leaves: the other two are what stays
    serving = {f"node{i}": True for i in range(1, 5)}
    assert judge(serving, ["node1", "node2"], 2).allowed
    assert not judge(serving, ["node1", "node2", "node3"], 2).allowed


@pytest.mark.parametrize(
    "serving, batch",
    [
        ({"node1": False, "node2": False}, ["node1"]),  # a fleet that serves nowhere yet (its first deploy)
        ({"node1": True, "node2": False}, ["node2"]),  # a node already down takes no capacity away
        ({"node1": True}, ["node9"]),  # a server the load balancer does not have
    ],
)
def test_a_batch_that_takes_no_serving_server_away_is_always_allowed(serving, batch):
    assert judge(serving, batch, 5).allowed
