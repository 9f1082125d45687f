"""A minimal HTTP/1.1 keep-alive client for one URL: POST bytes, get the reply.

Why not urllib3/http.client: the CPU time per request bounds the throughput at
high parallelism, and urllib3 + http.client (header parsing through
``email.parser``, a response object per reply, the connection pool's queue and
checks) were most of the harness's CPU per request. Here the request's head is
built once (``Route``), and a reply is read by ``Reader``, which does no I/O:
its head split with ``bytes.split``, its body read by Content-Length, chunks or
until close. Two drivers feed it: ``Connection``/``Pool`` here, blocking (the
launcher's preflight, a judge asked from a scoring thread), and ``http1_loop``'s,
on an event loop (every request of a task).

A deadline bounds the whole attempt: here each socket call gets the time that
is left, so a server trickling a byte a second still fails at the deadline,
without a watchdog thread. What can go wrong is one of three exceptions, and
``Timeout`` and ``Closed`` say whether the reply's head had arrived (``partial``).

Proxies: an ``http://`` proxy, as requests uses them: the absolute URL for an
``http`` target, a CONNECT tunnel for an ``https`` one (Proxy-Authorization from
the proxy URL's user:password). TLS is ``ssl``'s, with the context it is given.
"""

import base64
import select
import socket
import time
import urllib.parse
import zlib

MAX_HEAD = 1 << 20          # bytes of status line and headers before we call the reply unreadable
CHUNK = 1 << 16


class CannotConnect(Exception):
    """No connection could be made (refused, unknown host, unreachable)."""


class Unsupported(Exception):
    """A proxy this client cannot speak through (not an ``http://`` one)."""


class Timeout(Exception):
    def __init__(self, partial):
        super().__init__("deadline passed")
        self.partial = partial


class Closed(Exception):
    """The connection broke (``why``) or was closed (orderly, no ``why``) before
    the reply was whole."""

    def __init__(self, partial, why=""):
        super().__init__(why or "closed")
        self.partial = partial
        self.orderly = not why


class Unreadable(Exception):
    """Something came back that is not an HTTP/1.x reply we can read."""


class Headers(dict):
    """Header names in lower case; looked up in any case. A repeated header's
    values are joined with ", " (as urllib3 did)."""

    def get(self, name, default=None):
        return dict.get(self, name.lower(), default)

    def __getitem__(self, name):
        return dict.__getitem__(self, name.lower())

    def __contains__(self, name):
        return dict.__contains__(self, name.lower())


class Reader:
    """One reply read from what a connection receives, without doing any I/O
    itself, so that the blocking ``Connection`` here and the event loop's
    (``http1_loop``) read replies the same way: a driver ``feed``s it each piece
    of data as it arrives, and ``b""`` when the peer closes the connection in
    order; ``feed`` returns None until the reply is whole.

    The whole reply: ``(status, reason, Headers, body, keep)``, the body decoded
    (gzip, deflate) and ``keep`` whether the connection may carry another
    request. With ``head_only`` (a CONNECT's reply): ``(status, reason, Headers)``
    once the head has arrived. ``partial`` says whether the final reply's head
    has arrived (what ``Timeout`` and ``Closed`` carry); ``feed`` raises ``Closed``
    (the connection closed too soon) or ``Unreadable``."""

    def __init__(self, head_only=False):
        self.buffer = bytearray()   # appended to in place: a long body arrives in many pieces
        self.partial = False
        self.http10 = False
        self._steps = self._reply(head_only)
        next(self._steps)           # to the first wait for data (the buffer is empty)

    def feed(self, data):
        self.buffer += data
        try:
            self._steps.send(not data)
        except StopIteration as done:
            return done.value
        return None

    def _more(self):
        """Wait for the next piece of data; the peer's orderly close before the
        reply is whole is ``Closed``."""
        closed = yield
        if closed:
            raise Closed(self.partial)

    def _reply(self, head_only):
        status, reason, headers = yield from self._head()
        if head_only:
            return status, reason, headers
        self.partial = True
        keep = True
        if status in (204, 304):            # no body, whatever the headers say
            body = b""
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            body = yield from self._chunked()
        elif "content-length" in headers:
            try:
                length = int(headers["content-length"].split(",")[0])
                if length < 0:
                    raise ValueError
            except ValueError:
                raise Unreadable(f"Content-Length {headers['content-length']!r}") from None
            body = yield from self._exactly(length)
        else:
            body = yield from self._until_close()
            keep = False
        connection = headers.get("connection", "").lower()
        keep = keep and "close" not in connection and (not self.http10 or "keep-alive" in connection)
        return status, reason, headers, _decoded(body, headers.get("content-encoding")), keep and not self.buffer

    def _head(self):
        """(status, reason, Headers) of the next final reply; 1xx replies skipped."""
        while True:
            head = yield from self._through(b"\r\n\r\n", "the reply's headers never end")
            lines = head.split(b"\r\n")
            status_line = lines[0].split(None, 2)
            try:
                if not status_line[0].startswith(b"HTTP/1."):
                    raise ValueError
                status = int(status_line[1])
            except (ValueError, IndexError):
                raise Unreadable(f"not an HTTP reply: {lines[0][:80]!r}") from None
            if 100 <= status < 200:
                continue
            headers = Headers()
            for line in lines[1:]:
                name, colon, value = line.partition(b":")
                if not colon:
                    raise Unreadable(f"a header line without a colon: {line[:80]!r}")
                name = name.strip().lower().decode("latin-1")
                value = value.strip().decode("latin-1")
                headers[name] = f"{dict.get(headers, name)}, {value}" if name in headers else value
            reason = status_line[2].decode("latin-1") if len(status_line) > 2 else ""
            self.http10 = status_line[0] == b"HTTP/1.0"
            return status, reason, headers

    def _exactly(self, length):
        while len(self.buffer) < length:
            yield from self._more()
        found = bytes(self.buffer[:length])
        del self.buffer[:length]
        return found

    def _through(self, marker, endless):
        """What the connection says up to ``marker``, which is consumed too."""
        end = self.buffer.find(marker)
        while end < 0:
            if len(self.buffer) > MAX_HEAD:
                raise Unreadable(endless)
            yield from self._more()
            end = self.buffer.find(marker)
        found = bytes(self.buffer[:end])
        del self.buffer[:end + len(marker)]
        return found

    def _chunked(self):
        parts = []
        while True:
            line = yield from self._through(b"\r\n", "a chunk's size line never ends")
            try:
                size = int(line.split(b";")[0], 16)
            except ValueError:
                raise Unreadable("a chunk size that is not a number") from None
            if size == 0:
                while (yield from self._through(b"\r\n", "a chunk's size line never ends")):
                    pass                            # trailers, up to the empty line
                return b"".join(parts)
            parts.append((yield from self._exactly(size)))
            yield from self._exactly(2)             # the CRLF after the chunk

    def _until_close(self):
        while True:
            closed = yield
            if closed:                  # the end of a body that has no length: it is whole
                body = bytes(self.buffer)
                self.buffer.clear()
                return body


class Connection:
    """One HTTP/1.1 connection to the origin (or through the proxy), blocking:
    for the launcher's preflight and a judge's requests from scoring threads."""

    def __init__(self, route, deadline):
        self.route = route
        try:
            sock = socket.create_connection(route.address, time_left(deadline, False))
        except (TimeoutError, socket.timeout):
            raise Timeout(False) from None
        except OSError as e:
            raise CannotConnect(str(e)) from None
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.sock = sock
            if route.tunnel:
                status, _, _ = self.exchange(route.connect_head, deadline, head_only=True)
                if status != 200:
                    raise Closed(False, f"the proxy answered CONNECT with {status}")
            if route.tls is not None:
                sock.settimeout(time_left(deadline, False))
                sock = _handshake(route.tls, sock, route.host)
        except BaseException:
            sock.close()
            raise
        self.sock = sock

    def dropped(self):
        """True when the server closed it (or sent something unasked) while idle."""
        return readable(self.sock)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def exchange(self, request, deadline, head_only=False):
        """Send ``request``, then read the reply (``Reader``'s result)."""
        self.sock.settimeout(time_left(deadline, False))
        try:
            self.sock.sendall(request)
        except (TimeoutError, socket.timeout):
            raise Timeout(False) from None
        except OSError as e:
            raise Closed(False, str(e)) from None
        reader = Reader(head_only)
        while True:
            self.sock.settimeout(time_left(deadline, reader.partial))
            try:
                data = self.sock.recv(CHUNK)
            except (TimeoutError, socket.timeout):
                raise Timeout(reader.partial) from None
            except OSError as e:
                raise Closed(reader.partial, str(e)) from None
            reply = reader.feed(data)
            if reply is not None:
                return reply


class Route:
    """How requests to one URL go: the address to connect to (the origin's, or
    the proxy's), the request head up to its Content-Length, and for an https
    URL through a proxy the CONNECT that opens the tunnel. Shared by both
    drivers: ``Pool`` here and the event loop's (``http1_loop``)."""

    def __init__(self, url, headers, *, proxy=None, tls=None):
        parts = urllib.parse.urlsplit(url)
        self.host = parts.hostname
        port = parts.port or (443 if parts.scheme == "https" else 80)
        self.tls = tls if parts.scheme == "https" else None
        host_header = self.host if parts.port is None else f"{self.host}:{port}"
        if ":" in self.host:
            host_header = f"[{self.host}]" + ("" if parts.port is None else f":{port}")
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.address = (self.host, port)
        self.tunnel = False
        self.unsupported = None
        extra = ""
        if proxy:
            p = urllib.parse.urlsplit(proxy if "://" in proxy else "http://" + proxy)
            if p.scheme != "http":      # said by every request (as a failed sample), not by a crash here
                self.unsupported = f"the proxy {p.scheme}://{p.hostname} is not supported; an http:// proxy is"
            self.address = (p.hostname, p.port or 80)
            auth = ""
            if p.username is not None:
                creds = f"{urllib.parse.unquote(p.username)}:{urllib.parse.unquote(p.password or '')}"
                auth = f"Proxy-Authorization: Basic {base64.b64encode(creds.encode()).decode()}\r\n"
            if self.tls is None:
                target, extra = urllib.parse.urlunsplit(parts._replace(fragment="")), auth
            else:
                self.tunnel = True
                self.connect_head = (f"CONNECT {host_header} HTTP/1.1\r\nHost: {host_header}\r\n{auth}\r\n"
                                     ).encode("latin-1")
        lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.head = f"POST {target} HTTP/1.1\r\nHost: {host_header}\r\n{lines}{extra}".encode("latin-1")

    def request(self, body):
        """The whole request that POSTs ``body``; Unsupported for a proxy we cannot use."""
        if self.unsupported:
            raise Unsupported(self.unsupported)
        return b"%sContent-Length: %d\r\n\r\n%s" % (self.head, len(body), body)


class Pool:
    """Blocking connections to one route, reused while the server keeps them
    open; safe to share among threads (``list.append``/``pop`` are atomic)."""

    def __init__(self, route):
        self.route = route
        self._idle = []

    def post(self, body, seconds):
        """(status, reason, Headers, body bytes) within ``seconds``, or one of
        Unsupported, CannotConnect, Timeout, Closed, Unreadable."""
        request = self.route.request(body)
        deadline = time.monotonic() + seconds
        conn = take_idle(self._idle) or Connection(self.route, deadline)
        try:
            status, reason, headers, content, keep = conn.exchange(request, deadline)
        except BaseException:
            conn.close()
            raise
        give_back(self._idle, conn, keep)
        return status, reason, headers, content

    def close(self):
        close_idle(self._idle)


# The keep-alive bookkeeping of both drivers' pools: a list of idle connections,
# each with ``dropped()`` and ``close()``. ``pop``/``append`` are atomic, so the
# blocking pool's threads share the list without a lock.

def take_idle(idle):
    """A kept connection the server has not closed meanwhile, or None; the
    dropped ones met on the way are closed."""
    while idle:
        try:
            conn = idle.pop()
        except IndexError:      # another thread took the last one
            return None
        if not conn.dropped():
            return conn
        conn.close()
    return None


def give_back(idle, conn, keep):
    """After an exchange: kept for the next request, or closed."""
    if keep:
        idle.append(conn)
    else:
        conn.close()


def close_idle(idle):
    while idle:
        try:
            idle.pop().close()
        except IndexError:
            return


def _handshake(context, sock, host):
    try:
        return context.wrap_socket(sock, server_hostname=host)
    except (TimeoutError, socket.timeout):
        raise Timeout(False) from None
    except OSError as e:            # ssl.SSLError (a certificate refused among them) is one
        raise Closed(False, str(e) or type(e).__name__) from None


def readable(sock):
    """Whether ``sock`` has something to read now (or is closed): an idle
    connection that does was closed, or sent something unasked."""
    try:
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    except (OSError, ValueError):
        return True


def time_left(deadline, partial):
    left = deadline - time.monotonic()
    if left <= 0:
        raise Timeout(partial)
    return left


def _decoded(content, encoding):
    encoding = (encoding or "identity").strip().lower()
    try:
        if encoding == "gzip" or encoding == "x-gzip":
            return zlib.decompress(content, 16 + zlib.MAX_WBITS)
        if encoding == "deflate":
            try:
                return zlib.decompress(content)
            except zlib.error:
                return zlib.decompress(content, -zlib.MAX_WBITS)    # raw deflate, as some servers send
    except zlib.error as e:
        raise Unreadable(f"a {encoding} body that does not decompress: {e}") from None
    return content
