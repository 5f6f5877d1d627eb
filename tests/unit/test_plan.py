import pytest

from orchestrator.errors import InputError
from orchestrator.rollout.plan import serial_batches

HOSTS = [f"node{i}" for i in range(1, 9)]


@pytest.mark.parametrize(
    "serial, sizes",
    [
        (1, [1] * 8),
        (3, [3, 3, 2]),
        ("25%", [2, 2, 2, 2]),
        ("10%", [1] * 8),  # a percentage never rounds to 0
        ([1, "50%"], [1, 4, 3]),
        ([1, 2, 3], [1, 2, 3, 2]),
        ("100%", [8]),
    ],
)
def test_batches_follow_ansible_serial(serial, sizes):
    batches = serial_batches(HOSTS, serial)
    assert [len(b) for b in batches] == sizes
    assert [h for b in batches for h in b] == HOSTS


@pytest.mark.parametrize("serial", [0, "x", -1])
def test_bad_serial(serial):
    with pytest.raises(InputError):
        serial_batches(HOSTS, serial)
