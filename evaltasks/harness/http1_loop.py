"""``http1``'s client on an asyncio event loop: the harness's requests, all in
flight at once from one thread.

Why: with a thread per request in flight, the 128 workers of a task at
parallelism 128 handed the GIL to one another at every socket call, and the
futex wake-ups and context switches that cost were a third of the harness's CPU
per request (bench/RESULTS.md, issue 22). Here one thread waits for all the
sockets at once (epoll) and runs each reply's reading as its data arrives.

What a request does is ``http1``'s: the same ``Route`` (request head, proxy,
CONNECT tunnel), the same ``Reader`` (framing, encodings, what is unreadable),
the same exceptions. The deadline bounds the whole attempt as there: connecting,
the TLS handshake, and the reply, however slowly it trickles in; a timer at the
deadline fails the attempt and aborts its connection.
"""

import asyncio
import time

from . import http1


class _Connection(asyncio.Protocol):
    """One connection; at most one exchange at a time (HTTP/1.1 without pipelining)."""

    def __init__(self):
        self.transport = None
        self.reader = None          # the reply being read, during an exchange
        self.waiter = None
        self.lost = False
        self.unasked = False        # data or an EOF that arrived while idle

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        if self.reader is None:
            self.unasked = True
        else:
            self._feed(data)

    def eof_received(self):
        if self.reader is None:
            self.unasked = True
        else:
            self._feed(b"")
        return False                # close the transport

    def connection_lost(self, exc):
        self.lost = True
        if self.reader is not None:
            if exc is None:
                self._feed(b"")
            else:
                self._fail(http1.Closed(self.reader.partial, str(exc) or type(exc).__name__))

    def dropped(self):
        """True when the server closed it (or sent something unasked) while idle:
        what the loop has seen, or what the socket holds that it has not yet read."""
        if self.lost or self.unasked:
            return True
        sock = self.transport.get_extra_info("socket")
        return sock is None or http1.readable(sock)

    async def exchange(self, request, deadline, head_only=False):
        """Send ``request``, then the reply as ``http1.Reader`` gives it."""
        if self.lost:
            raise http1.Closed(False, "closed before the request was sent")
        loop = asyncio.get_running_loop()
        self.reader = http1.Reader(head_only)
        self.waiter = loop.create_future()
        timer = loop.call_at(deadline, self._time_out)
        try:
            self.transport.write(request)
            return await self.waiter
        finally:
            timer.cancel()
            self.reader = self.waiter = None

    def _feed(self, data):
        if self.waiter.done():          # more than the reply (or after a failure): not reusable
            self.unasked = True
            return
        try:
            reply = self.reader.feed(data)
        except (http1.Closed, http1.Unreadable) as e:
            self._fail(e)
            return
        if reply is not None:
            self.waiter.set_result(reply)

    def _fail(self, error):
        if not self.waiter.done():
            self.waiter.set_exception(error)

    def _time_out(self):
        if not self.waiter.done():
            self.waiter.set_exception(http1.Timeout(self.reader.partial))
            self.transport.abort()

    def close(self):
        self.transport.close()


class Pool:
    """Connections to one route, kept open between requests, for coroutines of
    one event loop (its connections belong to that loop)."""

    def __init__(self, route):
        self.route = route
        self._idle = []

    async def post(self, body, seconds):
        """(status, reason, Headers, body bytes) within ``seconds``, or one of
        http1's Unsupported, CannotConnect, Timeout, Closed, Unreadable."""
        request = self.route.request(body)
        deadline = time.monotonic() + seconds       # the loop's clock is time.monotonic
        conn = http1.take_idle(self._idle) or await self._connect(deadline)
        try:
            status, reason, headers, content, keep = await conn.exchange(request, deadline)
        except BaseException:
            conn.transport.abort()
            raise
        http1.give_back(self._idle, conn, keep)
        return status, reason, headers, content

    async def _connect(self, deadline):
        loop = asyncio.get_running_loop()
        route = self.route
        try:
            transport, conn = await asyncio.wait_for(loop.create_connection(_Connection, *route.address),
                                                     http1.time_left(deadline, False))
        except asyncio.TimeoutError:
            raise http1.Timeout(False) from None
        except OSError as e:
            raise http1.CannotConnect(str(e)) from None
        try:
            if route.tunnel:
                status, _, _ = await conn.exchange(route.connect_head, deadline, head_only=True)
                if status != 200:
                    raise http1.Closed(False, f"the proxy answered CONNECT with {status}")
            if route.tls is not None:
                try:
                    conn.transport = await asyncio.wait_for(
                        loop.start_tls(transport, conn, route.tls, server_hostname=route.host),
                        http1.time_left(deadline, False))
                except asyncio.TimeoutError:
                    raise http1.Timeout(False) from None
                except OSError as e:        # ssl.SSLError (a certificate refused among them) is one
                    raise http1.Closed(False, str(e) or type(e).__name__) from None
        except BaseException:
            transport.abort()
            raise
        return conn

    def close(self):
        http1.close_idle(self._idle)
