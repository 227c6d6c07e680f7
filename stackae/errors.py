"""User-facing errors: bad config, data or checkpoint, reported in one sentence by the scripts."""


class StackaeError(Exception):
    """Something the user can fix; the message says what is wrong and what to do."""


class ConfigError(StackaeError):
    """A config value, key or command-line override is invalid."""


class DataError(StackaeError):
    """A dataset cannot be found, fetched or is malformed."""


class CheckpointError(StackaeError):
    """A checkpoint is missing, corrupt, or does not match the config."""


class DivergedError(StackaeError):
    """Every seed's loss became non-finite; the last good state is checkpointed."""
