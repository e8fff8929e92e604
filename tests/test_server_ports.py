"""course/server_ports.py: a port the hub gives one user's server is never given to another while it runs."""

from __future__ import annotations

import itertools
import socket

import pytest

from course.server_ports import ServerPorts, unused_port


def test_the_same_random_port_twice_goes_to_one_server_only():
    # What happened in a load test: the OS offered the same free port to two servers starting together.
    ports = ServerPorts(pick=iter([40001, 40001, 40001, 40002]).__next__)
    assert ports.reserve(server="300023/") == 40001
    assert ports.reserve(server="300042/") == 40002
    assert ports.held() == {"300023/": 40001, "300042/": 40002}


def test_a_stopped_server_gives_its_port_back():
    ports = ServerPorts(pick=itertools.cycle([40001, 40002]).__next__)
    assert ports.reserve(server="a/") == 40001
    ports.release(server="a/")
    assert ports.reserve(server="b/") == 40002  # the next offer, now that 40001 is free again
    assert ports.reserve(server="a/") == 40001


def test_a_restarted_server_does_not_keep_its_old_port_held():
    ports = ServerPorts(pick=iter([40001, 40002, 40001]).__next__)
    ports.reserve(server="a/")
    ports.reserve(server="a/")  # started again without a stop (a failed spawn)
    assert ports.held() == {"a/": 40002}
    assert ports.reserve(server="b/") == 40001


def test_no_port_left_says_so_in_japanese():
    ports = ServerPorts(pick=lambda: 40001, attempts=5)
    ports.reserve(server="a/")
    with pytest.raises(RuntimeError, match=r"空きポートが見つかりませんでした.*少し待ってから起動"):
        ports.reserve(server="b/")


def test_the_os_port_is_free_to_bind():
    port = unused_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
