"""SQLAlchemy models, one module per aggregate; importing this registers them all."""

from models.audit import AdminAction, AdminActionKind, AuditTarget
from models.base import Base
from models.booking import Booking, BookingEvent, LessonSeries
from models.instant import InstantAvailability, InstantOffer, InstantRequest, InstantStatus
from models.integrations import CalendarBusy, CalendarEvent, IntegrationDispatch, OAuthConnection, VideoMeeting
from models.ledger import Account, EntryKind, LedgerEntry, LedgerLine
from models.message import Conversation, Message
from models.notification import Notification, NotificationKind
from models.outbox import DeadLetter, IdempotencyKey, OutboxMessage, WebhookEvent
from models.package import CreditMove, CreditMovement, LessonPackage, PackagePurchase, PurchaseStatus
from models.payout import (
    Earning,
    EarningStatus,
    Payout,
    PayoutAccount,
    PayoutItem,
    PayoutState,
    PayoutStatus,
    TransferState,
)
from models.review import Review
from models.tutor import AvailabilityOverride, AvailabilityRule, Subject, TutorProfile, TutorSubject, TutorVersion
from models.upload import Upload, UploadKind, UploadState
from models.user import EmailVerification, RefreshToken, Role, User
from models.waitlist import WaitlistEntry, WaitlistStatus

__all__ = [
    "Account",
    "AdminAction",
    "AdminActionKind",
    "AuditTarget",
    "AvailabilityOverride",
    "AvailabilityRule",
    "Base",
    "Booking",
    "BookingEvent",
    "CalendarBusy",
    "CalendarEvent",
    "Conversation",
    "CreditMove",
    "CreditMovement",
    "DeadLetter",
    "Earning",
    "EarningStatus",
    "EmailVerification",
    "EntryKind",
    "IdempotencyKey",
    "InstantAvailability",
    "InstantOffer",
    "InstantRequest",
    "InstantStatus",
    "IntegrationDispatch",
    "LedgerEntry",
    "LedgerLine",
    "LessonPackage",
    "LessonSeries",
    "Message",
    "Notification",
    "NotificationKind",
    "OAuthConnection",
    "OutboxMessage",
    "PackagePurchase",
    "Payout",
    "PayoutAccount",
    "PayoutItem",
    "PayoutState",
    "PayoutStatus",
    "PurchaseStatus",
    "RefreshToken",
    "Review",
    "Role",
    "Subject",
    "TransferState",
    "TutorProfile",
    "TutorSubject",
    "TutorVersion",
    "Upload",
    "UploadKind",
    "UploadState",
    "User",
    "VideoMeeting",
    "WaitlistEntry",
    "WaitlistStatus",
    "WebhookEvent",
]
