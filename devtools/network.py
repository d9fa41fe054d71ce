"""What a server exposes on the network, seen from this machine: the addresses it
listens on (`ss`) and whether its websocket accepts a given Host and Origin."""

from __future__ import annotations

import base64
import os
import socket
import subprocess


def listening_addresses(port: int) -> set[str]:
    """Returns the local addresses that listen on a TCP port, as `ss` shows them
    (e.g. {'127.0.0.1'}; every interface is '0.0.0.0', '*' or '[::]')."""
    output = subprocess.run(
        ["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True, check=True
    ).stdout
    return {line.split()[3].rsplit(":", 1)[0] for line in output.splitlines() if line.strip()}


def websocket_status(port: int, host: str, origin: str | None = None, timeout: float = 10.0) -> int:
    """Opens Streamlit's websocket (/_stcore/stream) on 127.0.0.1:`port` with the given
    Host (and Origin) header; returns the HTTP status of the answer (101: accepted)."""
    headers = [
        "GET /_stcore/stream HTTP/1.1",
        f"Host: {host}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}",
        "Sec-WebSocket-Version: 13",
        *([f"Origin: {origin}"] if origin else []),
    ]
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
        connection.sendall(("\r\n".join(headers) + "\r\n\r\n").encode())
        answer = b""
        while b"\r\n" not in answer:
            chunk = connection.recv(4096)
            if not chunk:
                break
            answer += chunk
    status_line = answer.split(b"\r\n", 1)[0].decode(errors="replace")
    parts = status_line.split()
    if len(parts) < 2 or not parts[1].isdigit():
        raise ConnectionError(f"no HTTP answer to the websocket handshake: {status_line!r}")
    return int(parts[1])


def upload_status(port: int, host: str, size: int, timeout: float = 30.0) -> int:
    """Uploads `size` bytes to Streamlit's file-upload endpoint on 127.0.0.1:`port` as a
    script on the network could: a session of its own (opened on the websocket with the
    Host `host`) and an XSRF token it made itself. Returns the HTTP status (413: refused
    as too large)."""
    import urllib.error
    import urllib.request
    import uuid

    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
    from streamlit.web.server.starlette.starlette_app_utils import generate_xsrf_token_string
    from websockets.sync.client import connect

    with connect(f"ws://{host}/_stcore/stream", subprotocols=["streamlit"], open_timeout=timeout) as stream:
        rerun = BackMsg()
        rerun.rerun_script.query_string = ""
        stream.send(rerun.SerializeToString())
        message = ForwardMsg()
        while message.WhichOneof("type") != "new_session":
            message = ForwardMsg.FromString(stream.recv(timeout=timeout))
        session = message.new_session.initialize.session_id
        token, boundary = generate_xsrf_token_string(), uuid.uuid4().hex
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="x.bin"\r\n'
                f"Content-Type: application/octet-stream\r\n\r\n"
            ).encode()
            + os.urandom(size)
            + f"\r\n--{boundary}--\r\n".encode()
        )
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/_stcore/upload_file/{session}/{uuid.uuid4().hex}",
            data=body,
            method="PUT",
            headers={
                "Host": host,
                "Content-Type": f"multipart/form-data; boundary={boundary}",
                "X-Xsrftoken": token,
                "Cookie": f"_streamlit_xsrf={token}",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:
                return answer.status
        except urllib.error.HTTPError as error:
            return error.code
