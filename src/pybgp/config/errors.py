"""`ConfigError`: the one exception a bad configuration raises, naming the key at fault."""

from __future__ import annotations


class ConfigError(ValueError):
    """A configuration the speaker refuses to start with.

    `key` is a path as jq writes it, with 0-based indexes (`peer[1].password`,
    `speaker.announce[2].med`); for an unreadable file or a TOML syntax error it is the
    file name.  `message` says what is wrong, without the key.
    """

    def __init__(self, key: str, message: str) -> None:
        super().__init__(key, message)
        self.key = key
        self.message = message

    def __str__(self) -> str:
        return f"{self.key}: {self.message}" if self.key else self.message
