"""A minimal HTTP/1.1 keep-alive client for one URL: POST bytes, get the reply.

Why not urllib3/http.client: the workers share one GIL, so the CPU time per
request bounds the throughput at high parallelism, and urllib3 + http.client
(header parsing through ``email.parser``, a response object per reply, the
connection pool's queue and checks) were most of the harness's CPU per request.
Here the request's head is built once, a reply's head is split with
``bytes.split``, and a body is read by Content-Length, chunks or until close.

A deadline bounds the whole attempt: each socket call gets the time that is left,
so a server trickling a byte a second still fails at the deadline, without a
watchdog thread. What can go wrong is one of three exceptions, and ``Timeout``
and ``Closed`` say whether the reply's head had arrived (``partial``).

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


class Connection:
    """One HTTP/1.1 connection to the origin (or through the proxy)."""

    def __init__(self, pool, deadline):
        self.pool = pool
        self.buffer = b""
        try:
            sock = socket.create_connection(pool.address, _left(deadline, False))
        except (TimeoutError, socket.timeout):
            raise Timeout(False) from None
        except OSError as e:
            raise CannotConnect(str(e)) from None
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if pool.tunnel:
                self.sock = sock
                self._tunnel(deadline)
            if pool.tls is not None:
                sock.settimeout(_left(deadline, False))
                sock = _handshake(pool.tls, sock, pool.host)
        except BaseException:
            sock.close()
            raise
        self.sock = sock

    def _tunnel(self, deadline):
        self.send(self.pool.connect_head, deadline)
        status, _, _ = self.read_head(deadline)
        if status != 200:
            raise Closed(False, f"the proxy answered CONNECT with {status}")

    def dropped(self):
        """True when the server closed it (or sent something unasked) while idle."""
        try:
            poller = select.poll()
            poller.register(self.sock, select.POLLIN)
            return bool(poller.poll(0))
        except (OSError, ValueError):
            return True

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data, deadline):
        self.sock.settimeout(_left(deadline, False))
        try:
            self.sock.sendall(data)
        except (TimeoutError, socket.timeout):
            raise Timeout(False) from None
        except OSError as e:
            raise Closed(False, str(e)) from None

    def _recv(self, deadline, partial):
        self.sock.settimeout(_left(deadline, partial))
        try:
            data = self.sock.recv(CHUNK)
        except (TimeoutError, socket.timeout):
            raise Timeout(partial) from None
        except OSError as e:
            raise Closed(partial, str(e)) from None
        if not data:
            raise Closed(partial)
        return data

    def read_head(self, deadline):
        """(status, reason, Headers) of the next final reply; 1xx replies skipped."""
        while True:
            head = self._through(b"\r\n\r\n", deadline, False, "the reply's headers never end")
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

    def read_body(self, status, headers, deadline):
        """(body bytes, whether the connection can carry another request)."""
        if status in (204, 304):            # no body, whatever the headers say
            body = b""
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            body = self._chunked(deadline)
        elif "content-length" in headers:
            try:
                length = int(headers["content-length"].split(",")[0])
                if length < 0:
                    raise ValueError
            except ValueError:
                raise Unreadable(f"Content-Length {headers['content-length']!r}") from None
            body = self._exactly(length, deadline)
        else:
            body = self._until_close(deadline)
            return body, False
        connection = headers.get("connection", "").lower()
        keep = "close" not in connection and (not self.http10 or "keep-alive" in connection)
        return body, keep and not self.buffer

    def _exactly(self, length, deadline):
        parts, have = [self.buffer[:length]], min(len(self.buffer), length)
        self.buffer = self.buffer[length:]
        while have < length:
            data = self._recv(deadline, True)
            if have + len(data) > length:
                data, self.buffer = data[:length - have], data[length - have:]
            parts.append(data)
            have += len(data)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _line(self, deadline):
        return self._through(b"\r\n", deadline, True, "a chunk's size line never ends")

    def _through(self, marker, deadline, partial, endless):
        """What the connection says up to ``marker``, which is consumed too."""
        end = self.buffer.find(marker)
        while end < 0:
            if len(self.buffer) > MAX_HEAD:
                raise Unreadable(endless)
            self.buffer += self._recv(deadline, partial)
            end = self.buffer.find(marker)
        found, self.buffer = self.buffer[:end], self.buffer[end + len(marker):]
        return found

    def _chunked(self, deadline):
        parts = []
        while True:
            try:
                size = int(self._line(deadline).split(b";")[0], 16)
            except ValueError:
                raise Unreadable("a chunk size that is not a number") from None
            if size == 0:
                while self._line(deadline):         # trailers, up to the empty line
                    pass
                return b"".join(parts)
            parts.append(self._exactly(size, deadline))
            self._exactly(2, deadline)              # the CRLF after the chunk

    def _until_close(self, deadline):
        parts = [self.buffer]
        self.buffer = b""
        while True:
            try:
                parts.append(self._recv(deadline, True))
            except Closed as e:
                if e.orderly:           # the end of a body that has no length: it is whole
                    return b"".join(parts)
                raise


class Pool:
    """Connections to one URL, reused while the server keeps them open; safe to
    share among threads (``list.append``/``pop`` are atomic)."""

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
        self._idle = []

    def post(self, body, seconds):
        """(status, reason, Headers, body bytes) within ``seconds``, or one of
        Unsupported, CannotConnect, Timeout, Closed, Unreadable."""
        if self.unsupported:
            raise Unsupported(self.unsupported)
        deadline = time.monotonic() + seconds
        conn = None
        while self._idle:
            try:
                conn = self._idle.pop()
            except IndexError:
                break
            if not conn.dropped():
                break
            conn.close()
            conn = None
        if conn is None:
            conn = Connection(self, deadline)
        try:
            conn.send(b"%sContent-Length: %d\r\n\r\n%s" % (self.head, len(body), body), deadline)
            status, reason, headers = conn.read_head(deadline)
            content, keep = conn.read_body(status, headers, deadline)
            content = _decoded(content, headers.get("content-encoding"))
        except BaseException:
            conn.close()
            raise
        if keep:
            self._idle.append(conn)
        else:
            conn.close()
        return status, reason, headers, content

    def close(self):
        while self._idle:
            try:
                self._idle.pop().close()
            except IndexError:
                break


def _handshake(context, sock, host):
    try:
        return context.wrap_socket(sock, server_hostname=host)
    except (TimeoutError, socket.timeout):
        raise Timeout(False) from None
    except OSError as e:            # ssl.SSLError (a certificate refused among them) is one
        raise Closed(False, str(e) or type(e).__name__) from None


def _left(deadline, partial):
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
