"""The bookings domain's errors (mapped to the API's error envelope in one place)."""

from __future__ import annotations

from server.errors import Conflict, InvalidRequest, NotFound


class SlotUnavailable(Conflict):
    code = "slot_unavailable"
    message = "That time is no longer available."


class LineFirst(SlotUnavailable):
    """The slot's hold had lapsed, but students were in line for it: the first of them got it
    in this very request, and that hand-off is committed although the caller is refused."""

    message = "That time went to the first student in its waitlist."
    keeps_changes = True


class HoldLimitReached(Conflict):
    code = "hold_limit_reached"
    message = "You already hold the maximum number of slots; pay for or release one first."


class TutorHoldLimitReached(Conflict):
    code = "hold_limit_reached"
    message = "Too many of this tutor's slots are held right now; try again in a few minutes."


class HoldCooldown(Conflict):
    code = "hold_cooldown"
    message = "You let go of this slot a moment ago; wait a little before holding it again."


class FreeBookingLimitReached(Conflict):
    code = "free_booking_limit_reached"
    message = "You have as many upcoming free lessons as allowed; take or cancel one first."


class InvalidTransition(Conflict):
    code = "invalid_transition"
    message = "The booking cannot change to that status from its current one."


class NotCancellable(Conflict):
    code = "not_cancellable"
    message = "This booking can no longer be cancelled."


class NotReschedulable(Conflict):
    code = "not_reschedulable"
    message = "This booking can no longer be rescheduled."


class HoldLapsed(Conflict):
    code = "hold_expired"
    message = "The hold has lapsed; hold the slot again."


class BookingNotFound(NotFound):
    code = "not_found"
    message = "No such booking."


class TestProviderDisabled(NotFound):
    code = "test_provider_disabled"
    message = "The test payment provider is not enabled here."


class TrialUsed(Conflict):
    code = "trial_used"
    message = "You have already had (or hold) your trial lesson with this tutor."


class TrialNotOffered(Conflict):
    code = "trial_not_offered"
    message = "This tutor does not offer a trial lesson."


class PaymentInProgress(Conflict):
    code = "payment_in_progress"
    message = "A card payment for this booking has started; finish it, or release the hold and book again."


class SeriesConflict(Conflict):
    code = "series_conflict"
    message = "Some of the weekly lessons cannot be held; nothing was held."


class SeriesNotFound(NotFound):
    code = "not_found"
    message = "No such series."


class InvalidTimezone(InvalidRequest):
    code = "invalid_timezone"
    message = "That is not an IANA time zone name (e.g. Europe/London)."


class HoldNotConvertible(Conflict):
    code = "hold_not_convertible"
    message = "That is not your live, unpaid hold of the series' first lesson."
