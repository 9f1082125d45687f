"""What one launcher started and has not yet seen end — its containers or its
harness processes — so that Ctrl-C or SIGTERM stops them all at once: in
parallel, so that N jobs take one grace period, not N."""

import threading


class Running:
    """A thread-safe set of running jobs. ``stop(job, grace)`` stops one (it must
    accept a job that already ended); ``key(job)`` names it."""

    def __init__(self, stop, key, grace):
        self._stop, self._key, self._grace = stop, key, grace
        self._running = {}
        self._lock = threading.Lock()
        self.stopping = threading.Event()   # set once stop_all began: start nothing new

    def add(self, job):
        with self._lock:
            self._running[self._key(job)] = job

    def discard(self, job):
        with self._lock:
            self._running.pop(self._key(job), None)

    def stop_all(self, grace=None):
        """Stop every job still running, all at once; how many there were."""
        self.stopping.set()
        with self._lock:
            jobs = list(self._running.values())
        grace = self._grace if grace is None else grace
        threads = [threading.Thread(target=self._stop, args=(job, grace)) for job in jobs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return len(jobs)
