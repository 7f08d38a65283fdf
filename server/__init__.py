"""The ConnectNow HTTP and websocket server."""
