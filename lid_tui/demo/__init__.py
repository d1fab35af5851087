"""The built-in demo provider: a deterministic data set and an HTTP server that serves it."""
