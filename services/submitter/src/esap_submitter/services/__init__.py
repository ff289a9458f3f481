"""The submitter's behaviour, free of the bus and of HTTP."""
