"""The waitlist's errors (mapped to the API's error envelope in one place)."""

from __future__ import annotations

from server.errors import Conflict, NotFound


class SlotOpen(Conflict):
    code = "slot_open"
    message = "That slot is open: hold it with POST /holds instead of joining a line."


class YoursAlready(Conflict):
    code = "slot_yours"
    message = "You already hold or booked that slot: there is no line to join for it."


class AlreadyInLine(Conflict):
    code = "already_in_line"
    message = "You are already in line for that slot."


class NotWaiting(Conflict):
    code = "not_waiting"
    message = "Only a waiting entry can leave the line (an offered slot is released with DELETE /holds/{id})."


class EntryNotFound(NotFound):
    code = "not_found"
    message = "No such waitlist entry."
