# Loaded only by tests that must run offline where `unshare -n` is not allowed: every connection attempt fails.
import socket
def _refuse(*a, **k): raise OSError("network disabled for this test")
socket.socket.connect = _refuse
socket.socket.connect_ex = _refuse
socket.create_connection = _refuse
