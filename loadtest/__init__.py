"""The built-in load tester (``edustream loadtest``).

It drives an EduStream deployment from outside, through the public interface only (REST
per the API contract and Socket.IO ``/live``), then verifies the invariants. Modules:
``setup`` (accounts), ``api`` (REST client), ``live``/``watchers`` (Socket.IO watchers and
fan-out delays), ``scenarios``, ``verify``, ``report``, ``runner`` and ``cli``.
"""
