"""The bare minimum of each path the server takes, as tiny standalone ASGI apps.

Each is run by uvicorn in its own process on loopback, the same way as the server, so the
harness can hold the server's figures against what Starlette, asyncpg and redis-py alone cost.
"""
