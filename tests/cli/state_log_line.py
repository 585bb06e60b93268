# SPDX-License-Identifier: AGPL-3.0-or-later
# A line of the state log as the host writes it (host/src/runs/run_log.cpp):
# "<length, 8 hex> <crc32c, 8 hex> <body>". For tests that forge or damage
# entries by hand; imported with PYTHONPATH set to this directory.


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def state_line(body):
    """The line (without its newline) for `body`, bytes."""
    return b"%08x %08x %s" % (len(body), crc32c(body), body)
