"""The HTTP transport: a Litestar app over the domain core (`create_app`)."""

from service.http.app import create_app

__all__ = ["create_app"]
