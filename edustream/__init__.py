"""The composition root: the ``edustream`` command and the ASGI app that serves REST and the live layer."""
