"""The errors a config can raise, in a module of their own so that every layer
(executors, the pipeline, the command line) can catch them without importing
what reads YAML or validates: a ConfigError is always one line, for the user."""


class ConfigError(Exception):
    """A problem with the config or the command line; the message is one line."""


class OverrideError(ConfigError):
    """A problem an override (``-o`` or doit's ``key=value``) made, not the file:
    ``override`` is that override when the message does not already name it."""

    def __init__(self, message: str, override: str | None = None):
        super().__init__(message)
        self.override = override

    def where(self) -> str:
        """The message with where it came from, for the user: the override's key,
        not its value, which may be a key pasted where a name belongs."""
        if not self.override:
            return str(self)
        return f"override '{self.override.partition('=')[0].strip()}=…': {self}"
