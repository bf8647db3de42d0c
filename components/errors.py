"""The error every component raises for a problem with the user's data or settings."""


class DataError(ValueError):
    """Bad input data: the message is one line that names the path and says what to do."""
