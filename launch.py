"""Starts the lab and, with --audience, the audience server beside it (scripts/run.sh),
each with the web server's environment (core.processes.WEB_SERVER_ENVIRONMENT).

    python launch.py [--audience [--audience-port PORT]] [streamlit options for the lab]

The lab (app.py) listens where .streamlit/config.toml says: 127.0.0.1:8501, for this
machine only. The audience (audience.py: Draw and Compare, read only) listens on every
interface, by default on the lab's port + 1, and accepts only this machine's host names
and addresses as Host, so a web page elsewhere cannot reach it through DNS rebinding.
The audience URL is printed with a QR code (when segno is installed).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import io
import ipaddress
import os
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from core.processes import web_server_environment

REPO_DIR = Path(__file__).resolve().parent
LAB_PORT = 8501
AUDIENCE_ADDRESS = "0.0.0.0"
SIOCGIFADDR = 0x8915  # Linux: an interface's IPv4 address.
START_TIMEOUT_SECONDS = 60.0
AUDIENCE_OPTIONS = (
    "--client.disableDataExport", "true",
    # Nothing to upload (drawings travel on the websocket): Streamlit's upload route
    # refuses any file; and no websocket message over 16 MB (a drawing is 2 MB at most).
    "--server.maxUploadSize", "0",
    "--server.maxMessageSize", "16",
)  # fmt: skip


def parse_arguments(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """Splits the command line into the launcher's options and the lab's streamlit
    options; sets `lab_port` and `audience_port` (default: the lab's port + 1).

    Raises:
        SystemExit: bad options (argparse says which), or both servers on one port.
    """
    parser = argparse.ArgumentParser(prog="run.sh", allow_abbrev=False, description=__doc__.split("\n")[0])
    parser.add_argument("--audience", action="store_true", help="also serve the audience on the network")
    parser.add_argument("--audience-port", type=int, help="the audience's port (default: the lab's + 1)")
    options, lab_args = parser.parse_known_args(argv)
    options.lab_port = int(option_value(lab_args, "--server.port") or LAB_PORT)
    options.audience_port = options.audience_port or options.lab_port + 1
    if options.audience and options.audience_port == options.lab_port:
        parser.error(f"the lab and the audience cannot share port {options.lab_port}")
    return options, lab_args


def option_value(args: list[str], name: str) -> str | None:
    """Returns the last value given to a `--name VALUE` or `--name=VALUE` option, or None."""
    value = None
    for index, arg in enumerate(args):
        if arg == name and index + 1 < len(args):
            value = args[index + 1]
        elif arg.startswith(f"{name}="):
            value = arg.split("=", 1)[1]
    return value


def lan_addresses(candidates: list[str]) -> list[str]:
    """Returns the IPv4 addresses others can reach this machine at, from candidates:
    unique, no loopback, link-local or unspecified address, private (LAN) ones first."""
    found = []
    for candidate in dict.fromkeys(candidates):
        try:
            address = ipaddress.IPv4Address(candidate)
        except ValueError:
            continue
        if not (address.is_loopback or address.is_link_local or address.is_unspecified):
            found.append(address)
    return [str(address) for address in sorted(found, key=lambda address: not address.is_private)]


def interface_addresses() -> list[str]:
    """Returns this machine's IPv4 addresses, one per network interface (Linux); the
    host name's addresses where the interfaces cannot be read."""
    addresses = []
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for _, name in socket.if_nameindex():
            request = struct.pack("256s", name.encode()[:15])
            with contextlib.suppress(OSError):
                addresses.append(socket.inet_ntoa(fcntl.ioctl(sock.fileno(), SIOCGIFADDR, request)[20:24]))
    if not lan_addresses(addresses):
        with contextlib.suppress(OSError):
            found = socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)
            addresses += [info[4][0] for info in found]
    return lan_addresses(addresses)


def allowed_hosts(hostname: str, addresses: list[str]) -> list[str]:
    """Returns the Host names the audience server accepts: this machine's name (and its
    .local name), its addresses and localhost."""
    names = ["localhost", "127.0.0.1", hostname]
    if hostname and "." not in hostname:
        names.append(f"{hostname}.local")
    return [name for name in dict.fromkeys([*names, *addresses]) if name]


def audience_urls(hostname: str, addresses: list[str], port: int) -> list[str]:
    """Returns the URLs the audience may open, the likeliest to work first."""
    hosts = [host for host in [*addresses, hostname] if host] or ["localhost"]
    return [f"http://{host}:{port}" for host in hosts]


def lab_command(python: str, lab_args: list[str]) -> list[str]:
    """Returns the command that serves the lab with the user's streamlit options."""
    return [python, "-m", "streamlit", "run", str(REPO_DIR / "app.py"), *lab_args]


def audience_command(python: str, port: int, hosts: list[str], shown_host: str) -> list[str]:
    """Returns the command that serves the audience on every interface, accepting the
    Host names `hosts`; Streamlit prints `shown_host` as its address (and so never
    asks the internet for this machine's external address)."""
    command = [
        python, "-m", "streamlit", "run", str(REPO_DIR / "audience.py"),
        "--server.address", AUDIENCE_ADDRESS,
        "--server.port", str(port),
        "--browser.serverAddress", shown_host,
        *AUDIENCE_OPTIONS,
    ]  # fmt: skip
    for host in hosts:
        command += ["--server.allowedHosts", host]
    return command


def qr_code(text: str) -> str | None:
    """Returns a QR code of `text` drawn with block characters, or None without segno."""
    try:
        import segno
    except ImportError:
        return None
    drawing = io.StringIO()
    segno.make(text, error="m").terminal(out=drawing, compact=True)
    return drawing.getvalue()


def banner(lab_port: int, lab_address: str | None, urls: list[str], qr: str | None) -> str:
    """Returns what the terminal shows once both servers answer (`lab_address`: the
    lab's --server.address, None for the configured 127.0.0.1)."""
    where = "on this machine only" if lab_address is None else f"listening on {lab_address}"
    lines = ["", "Digit Lab", f"  The lab, {where}:  http://localhost:{lab_port}"]
    lines.append("  The audience, anyone on this network (Draw and Compare, read only):")
    lines += [f"    {url}" for url in urls]
    if qr is not None:
        lines += ["", qr.rstrip("\n")]
    else:
        lines.append("  (install segno for a QR code of the first address: pip install segno)")
    return "\n".join(lines) + "\n"


def wait_until_healthy(servers: list[str], processes: list[subprocess.Popen]) -> bool:
    """Waits until every server ("host:port") answers /_stcore/health; False if they
    do not within START_TIMEOUT_SECONDS or one of the processes exits."""
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    waiting = list(servers)
    while waiting and time.monotonic() < deadline:
        if any(process.poll() is not None for process in processes):
            return False
        url = f"http://{waiting[0]}/_stcore/health"
        with (
            contextlib.suppress(urllib.error.URLError, OSError),
            urllib.request.urlopen(url, timeout=2) as answer,
        ):
            if answer.status == 200:
                waiting.pop(0)
                continue
        time.sleep(0.2)
    return not waiting


def reachable_address(address: str | None) -> str:
    """Returns where this machine reaches a server that listens on `address`."""
    if address in (None, "", "0.0.0.0", "::"):
        return "127.0.0.1"
    return f"[{address}]" if ":" in address else address


def serve(options: argparse.Namespace, lab_args: list[str]) -> int:
    """Runs the lab and the audience server until either ends (or Ctrl-C / SIGTERM);
    returns the exit code of the one that ended first."""
    hostname = socket.gethostname()
    addresses = interface_addresses()
    urls = audience_urls(hostname, addresses, options.audience_port)
    hosts = allowed_hosts(hostname, addresses)
    processes = [
        subprocess.Popen(lab_command(sys.executable, lab_args), cwd=REPO_DIR, env=web_server_environment()),
        subprocess.Popen(
            audience_command(sys.executable, options.audience_port, hosts, urlsplit(urls[0]).hostname),
            cwd=REPO_DIR,
            env=web_server_environment(),
        ),
    ]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        lab_address = option_value(lab_args, "--server.address")
        lab = f"{reachable_address(lab_address)}:{options.lab_port}"
        servers = [lab, f"127.0.0.1:{options.audience_port}"]
        if wait_until_healthy(servers, processes):
            if not addresses:
                print("No network address found: the audience server answers on this machine only.")
            print(banner(options.lab_port, lab_address, urls, qr_code(urls[0])), flush=True)
        while all(process.poll() is None for process in processes):
            time.sleep(0.5)
        return next(process.returncode for process in processes if process.returncode is not None)
    except KeyboardInterrupt:
        return 130
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(10)
            if process.poll() is None:
                process.kill()


def main(argv: list[str] | None = None) -> int:
    options, lab_args = parse_arguments(sys.argv[1:] if argv is None else argv)
    os.chdir(REPO_DIR)  # Streamlit reads .streamlit/config.toml from the working directory.
    if not options.audience:
        os.execve(sys.executable, lab_command(sys.executable, lab_args), web_server_environment())
    return serve(options, lab_args)


if __name__ == "__main__":
    sys.exit(main())
