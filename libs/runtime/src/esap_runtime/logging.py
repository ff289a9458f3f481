"""structlog, configured once per process: JSON lines in production, a readable console in development.

Log events are fixed sentences; the facts go in key/values. Context (job_id, message_id, request_id...) is bound
with structlog.contextvars at the edge.
"""

import logging
import sys

import structlog


def configure_logging(service: str, *, level: str = "INFO", json: bool = True) -> None:
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer]
        if json
        else [*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(service=service)
    # Libraries log through the standard library: keep their warnings, in the same stream.
    logging.basicConfig(level=max(numeric, logging.WARNING), stream=sys.stderr, force=True,
                        format=f"%(asctime)s %(levelname)s {service} %(name)s: %(message)s")
