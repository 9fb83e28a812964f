"""One module per thing a user clicks: each holds its operator classes in ``CLASSES``."""
