"""The reviews domain's errors (mapped to the API's error envelope in one place)."""

from __future__ import annotations

from server.errors import Conflict, NotFound


class NotReviewable(Conflict):
    code = "not_reviewable"
    message = "Only a completed lesson can be reviewed."


class ReviewExists(Conflict):
    code = "review_exists"
    message = "This lesson has already been reviewed."


class ReplyExists(Conflict):
    code = "reply_exists"
    message = "You have already replied to this review."


class ReviewNotFound(NotFound):
    code = "review_not_found"
    message = "No such review."
