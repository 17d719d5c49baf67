"""The web console (server-side HTML: aiohttp-jinja2 + htmx) and the `/api/v1` HTTP API."""
