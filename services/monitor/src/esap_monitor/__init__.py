"""esap-batch monitor: tracks the active jobs, polls their backends in bulk and reports status changes.

The composition root is ``esap_monitor.main.create_app``; nothing in this package connects at import time.
"""
