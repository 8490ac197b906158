"""Which ports listen, read from `/proc/net/tcp` and `/proc/net/tcp6`: how a preview finds the container its app is in."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from sandbox.previews.host_side import SOCKET_TABLES, listening_ports

TABLE = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F40 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 1 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F41 0100007F:9C40 01 00000000:00000000 00:00000000 00000000  1000        0 2 1 0000000000000000 20 4 30 10 -1
  sl  local_address                         remote_address                        st tx_queue rx_queue
   0: 00000000000000000000000000000000:1F42 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000 0 3 1
   1: 00000000000000000000000001000000:1F43 00000000000000000000000001000000:A000 06 00000000:00000000 00:00000000 00000000  1000 0 4 1
"""


def test_only_listening_sockets_count_ipv4_and_ipv6() -> None:
    assert listening_ports(TABLE) == {8000, 8002}


@pytest.mark.parametrize("text", ["", "garbage", "0: nocolon 0000:0000 0A", "0: 0100007F:ZZZZ 00000000:0000 0A"])
def test_text_that_is_not_a_table_lists_nothing(text: str) -> None:
    assert listening_ports(text) == set()


def test_the_kernels_own_tables_show_a_listening_socket_and_not_a_connected_one() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)) as client:
            client_port = client.getsockname()[1]
            tables = "".join(Path(name).read_text(encoding="ascii") for name in SOCKET_TABLES if Path(name).exists())
    found = listening_ports(tables)
    assert port in found
    assert client_port not in found
