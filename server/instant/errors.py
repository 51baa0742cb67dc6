"""The instant-lessons domain's errors (mapped to the API's error envelope in one place)."""

from __future__ import annotations

from server.errors import Conflict, NotFound


class NoTutorAvailable(Conflict):
    code = "no_tutor_available"
    message = "No tutor who teaches that subject and length is available right now; try again later."


class RequestPending(Conflict):
    code = "request_pending"
    message = "You already have an instant request waiting for a tutor; cancel it or wait for it to end."


class RequestTaken(Conflict):
    code = "request_taken"
    message = "Another tutor has already accepted this request."


class RequestExpired(Conflict):
    code = "request_expired"
    message = "This request is no longer open: nobody accepted it in time."


class RequestCancelled(Conflict):
    code = "request_cancelled"
    message = "The student withdrew this request."


class OfferDeclined(Conflict):
    code = "offer_declined"
    message = "You declined this request."


class RequestDeclined(Conflict):
    code = "request_declined"
    message = "Every tutor asked declined this request."


class RequestNotPending(Conflict):
    code = "request_not_pending"
    message = "Only a request that is still waiting for a tutor can be cancelled."


class RequestNotFound(NotFound):
    code = "not_found"
    message = "No such instant request."
