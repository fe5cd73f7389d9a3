"""`KSR.config`: the plugin's own settings (``[plugin.config]`` in the router config)."""

from wit_world.imports import config as _config


def get(key, default=None):
    """The value of `key`, or `default` when it is not set."""
    v = _config.get(key)
    return default if v is None else v


def keys():
    """Every key that is set."""
    return list(_config.keys())
