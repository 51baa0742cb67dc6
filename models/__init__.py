"""SQLAlchemy models, one module per aggregate; importing this registers them all."""

from models.audit import AdminAction, AdminActionKind, AuditTarget
from models.base import Base
from models.booking import Booking, BookingEvent
from models.integrations import CalendarBusy, CalendarEvent, IntegrationDispatch, OAuthConnection, VideoMeeting
from models.outbox import DeadLetter, IdempotencyKey, OutboxMessage, WebhookEvent
from models.tutor import AvailabilityOverride, AvailabilityRule, Subject, TutorProfile, TutorSubject, TutorVersion
from models.upload import Upload, UploadKind, UploadState
from models.user import EmailVerification, RefreshToken, Role, User

__all__ = [
    "AdminAction", "AdminActionKind", "AuditTarget", "AvailabilityOverride", "AvailabilityRule", "Base", "Booking", "BookingEvent", "CalendarBusy",
    "CalendarEvent", "DeadLetter", "EmailVerification", "IdempotencyKey", "IntegrationDispatch", "OAuthConnection",
    "OutboxMessage", "RefreshToken", "Role", "Subject", "TutorProfile", "TutorSubject", "TutorVersion", "Upload",
    "UploadKind", "UploadState", "User", "VideoMeeting", "WebhookEvent",
]
