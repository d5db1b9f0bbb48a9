"""`python -m services.gateway.entrypoints.server`: the gateway on settings.http_host:http_port."""
from __future__ import annotations

import uvicorn
from prometheus_client import disable_created_metrics

from services.common.logging import configure_logging
from services.common.settings import get_settings
from services.gateway.entrypoints.app import create_app

GRACEFUL_SHUTDOWN_S = 10
CONNECTIONS_MAX = 1024


def main() -> None:
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format, service="gateway")
    disable_created_metrics()  # no `_created` series: they double the exposition for no use here
    uvicorn.run(
        create_app(settings), host=settings.http_host, port=settings.http_port,
        access_log=False, log_config=None, server_header=False, proxy_headers=False,
        limit_concurrency=CONNECTIONS_MAX, timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )


if __name__ == "__main__":
    main()
