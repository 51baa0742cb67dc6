"""The messages domain's errors (mapped to the API's error envelope in one place)."""

from __future__ import annotations

from server.errors import Forbidden, InvalidRequest, NotFound


class NotAllowed(Forbidden):
    """Writing to this user is not allowed. Also the answer for an unknown user id, so the
    answer never tells whether an account exists."""

    code = "not_allowed"
    message = ("You cannot write to this user: students write to tutors, tutors to students who "
               "booked them or wrote to them.")


class ConversationNotFound(NotFound):
    code = "not_found"
    message = "No such conversation."


class NotInConversation(InvalidRequest):
    message = "That message is not in this conversation."
