"""Lightning callbacks, one file per concern."""
