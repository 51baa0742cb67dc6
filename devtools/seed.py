"""Demo data for ``edustream seed --demo`` and ``edustream dev``.

A dozen tutors across subjects, currencies and time zones, each with weekly hours in their
own time zone (a few with a date override), and two students. Every account has a fixed,
printed password. Seeding is idempotent: accounts that already exist (by email) are left
as they are, so running it again creates nothing new; concurrent runs serialise on an
advisory lock.

Ratings are real: each new tutor gets a few completed lessons in the past with the demo
students, each reviewed (``DemoTutor.reviews``), and the tutor's rating and count are
computed from those reviews exactly as a submitted review updates them. Two tutors offer a
trial lesson (one free), and two sell lesson packages.
"""

from __future__ import annotations

import asyncio
import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import Range, insert

from models import (
    AvailabilityOverride,
    AvailabilityRule,
    Booking,
    LessonPackage,
    Review,
    Subject,
    TutorProfile,
    TutorSubject,
    TutorVersion,
    User,
)
from models.booking import BookingStatus, PaymentProvider, PaymentStatus
from server.db import Session, Sessionmaker, unit_of_work
from server.identity import hash_password
from server.reviews import repository as reviews_repository
from server.tutors.schemas import lesson_price

DEMO_DOMAIN = "demo.edustream.test"
TUTOR_PASSWORD = "demo-tutor-password"
_SEED_LOCK = 0x45445553_5345  # "EDUSSE": pg_advisory_xact_lock key for seeding

SUBJECTS: dict[str, str] = {
    "mathematics": "Mathematics", "physics": "Physics", "chemistry": "Chemistry", "biology": "Biology",
    "english": "English", "spanish": "Spanish", "french": "French", "piano": "Piano", "guitar": "Guitar",
    "programming": "Programming", "history": "History", "economics": "Economics",
}

MON, TUE, WED, THU, FRI, SAT, SUN = range(7)


@dataclass(frozen=True, slots=True)
class Hours:
    """Weekly hours: these weekdays, from ``start`` to ``end`` local time ("HH:MM")."""

    days: tuple[int, ...]
    start: str
    end: str


@dataclass(frozen=True, slots=True)
class Override:
    """A date ``weekday`` of next week: ``None`` hours means a day off."""

    weekday: int
    start: str | None = None
    end: str | None = None


@dataclass(frozen=True, slots=True)
class DemoTutor:
    name: str
    headline: str
    bio: str
    subjects: tuple[str, ...]
    hourly_rate_cents: int
    currency: str
    timezone: str
    lesson_minutes: tuple[int, ...]
    hours: tuple[Hours, ...]
    overrides: tuple[Override, ...] = ()
    min_notice_minutes: int = 120
    buffer_minutes: int = 0
    max_advance_days: int = 60
    reviews: tuple[int, ...] = ()  # ratings of past completed lessons, alternating between the demo students
    trial: tuple[int, int] | None = None  # (minutes, price_cents) of the trial lesson offered
    packages: tuple[tuple[int, int, int], ...] = ()  # (lessons, minutes, price_cents) of packages sold

    @property
    def email(self) -> str:
        """``first.last@demo.edustream.test``, accents folded to ASCII."""
        ascii_name = unicodedata.normalize("NFKD", self.name).encode("ascii", "ignore").decode()
        return f"{ascii_name.lower().replace(' ', '.')}@{DEMO_DOMAIN}"


@dataclass(frozen=True, slots=True)
class DemoStudent:
    name: str
    email: str
    password: str
    timezone: str


TUTORS: tuple[DemoTutor, ...] = (
    DemoTutor(
        "Amelia Hart", "Cambridge maths graduate: GCSE, A-level and first-year calculus",
        "I have taught maths for eight years, from times tables to university calculus. Lessons start from "
        "what you already know and end with a short set of practice problems.",
        ("mathematics", "physics"), 4500, "GBP", "Europe/London", (30, 60),
        (Hours((MON, TUE, WED, THU), "16:00", "20:00"), Hours((SAT,), "09:00", "13:00")),
        overrides=(Override(SAT),), buffer_minutes=10, reviews=(5, 5, 4, 5, 5, 5), trial=(30, 0),
        packages=((5, 60, 20000), (10, 30, 20000))),
    DemoTutor(
        "Daniel Okafor", "Chemistry PhD who makes organic reactions make sense",
        "Former lab instructor at NYU. I help high-school and college students with general and organic "
        "chemistry, AP Chemistry and MCAT preparation.",
        ("chemistry", "biology"), 5500, "USD", "America/New_York", (45, 60, 90),
        (Hours((MON, WED, FRI), "09:00", "12:00"), Hours((TUE, THU), "18:00", "21:00")),
        overrides=(Override(WED, "13:00", "17:00"),), buffer_minutes=15, reviews=(5, 4, 5, 5),
        trial=(45, 1500)),
    DemoTutor(
        "Sofía Martínez", "Native Spanish speaker: conversation-first lessons from A1 to C1",
        "Born in Seville, teaching Spanish online since 2016. We talk from the first lesson; grammar comes in "
        "when you need it. DELE exam preparation too.",
        ("spanish",), 3000, "EUR", "Europe/Madrid", (30, 60),
        (Hours((MON, TUE, WED, THU, FRI), "08:00", "11:00"), Hours((TUE, THU), "17:00", "21:00")),
        min_notice_minutes=60, reviews=(5, 5, 5, 5, 4, 5, 5), packages=((10, 60, 27000),)),
    DemoTutor(
        "Lukas Becker", "Physics olympiad coach: mechanics to quantum",
        "Physics teacher at a Berlin Gymnasium and coach of the regional olympiad team. I like hard "
        "problems and patient explanations.",
        ("physics", "mathematics"), 5000, "EUR", "Europe/Berlin", (60, 90),
        (Hours((MON, WED), "17:00", "21:00"), Hours((SUN,), "10:00", "14:00")),
        buffer_minutes=15, max_advance_days=30, reviews=(4, 5, 4, 5)),
    DemoTutor(
        "Haruto Sato", "Software engineer teaching Python, algorithms and interview prep",
        "Ten years building backend systems in Tokyo. From your first Python script to dynamic programming "
        "and system design interviews.",
        ("programming",), 7000, "USD", "Asia/Tokyo", (60,),
        (Hours((TUE, THU), "19:00", "23:00"), Hours((SAT, SUN), "09:00", "12:00")),
        min_notice_minutes=240, reviews=(5, 5, 4)),
    DemoTutor(
        "Chloé Dubois", "Parisian French teacher: DELF/DALF preparation and conversation",
        "Certified FLE teacher. Pronunciation, everyday conversation and exam strategy, with material "
        "from French newspapers and films.",
        ("french",), 3500, "EUR", "Europe/Paris", (30, 60),
        (Hours((MON, TUE, THU, FRI), "09:00", "13:00"),),
        overrides=(Override(FRI),), reviews=(4, 5, 4)),
    DemoTutor(
        "Olivia Chen", "Concert pianist: classical and pop piano for all ages",
        "Juilliard-trained pianist based in Los Angeles. Beginners welcome; I also prepare students for "
        "ABRSM grades and auditions.",
        ("piano",), 6000, "USD", "America/Los_Angeles", (30, 45, 60),
        (Hours((MON, WED, FRI), "15:00", "19:00"), Hours((SAT,), "10:00", "14:00")),
        buffer_minutes=10, reviews=(5,)),
    DemoTutor(
        "Jack Wilson", "Session guitarist: acoustic, electric and music theory",
        "Twenty years on stage and in studios around Sydney. Learn the songs you love and the theory that "
        "makes them work.",
        ("guitar",), 4000, "USD", "Australia/Sydney", (30, 60),
        (Hours((MON, TUE, WED, THU), "18:00", "21:00"), Hours((SAT,), "10:00", "16:00")),
        reviews=(5, 4, 4)),
    DemoTutor(
        "Priya Nair", "LSE economist: micro, macro and econometrics",
        "Lecturer in economics. A-level, IB and undergraduate economics, plus the statistics and Stata/R "
        "that go with it.",
        ("economics", "mathematics"), 6500, "GBP", "Europe/London", (60,),
        (Hours((TUE, WED, THU), "18:00", "21:00"), Hours((SUN,), "14:00", "18:00")),
        min_notice_minutes=720, max_advance_days=45, reviews=(5, 5, 5, 4, 5)),
    DemoTutor(
        "Marcus Johnson", "History teacher: AP US History and essay writing",
        "High-school history teacher in Chicago. I help students turn facts into arguments: DBQs, long "
        "essays and research papers.",
        ("history", "english"), 4000, "USD", "America/Chicago", (45, 60),
        (Hours((MON, TUE, WED, THU), "16:30", "20:30"),),
        buffer_minutes=5, reviews=(4, 4, 5)),
    DemoTutor(
        "Emily Clarke", "IELTS and Cambridge English specialist",
        "Former Cambridge English speaking examiner. Band-score strategy for IELTS, business English and "
        "academic writing.",
        ("english",), 3800, "GBP", "Asia/Singapore", (30, 60),
        (Hours((MON, TUE, WED, THU, FRI), "19:00", "22:00"),),
        reviews=(5, 5, 4, 5)),
    DemoTutor(
        "Isabella Rossi", "Medical student tutoring biology and chemistry",
        "Sixth-year medical student in Rome. Cell biology, genetics and physiology for school exams and "
        "medical school admission tests.",
        ("biology", "chemistry"), 3200, "EUR", "Europe/Rome", (45, 60),
        (Hours((MON, WED), "14:00", "18:00"), Hours((SAT,), "09:00", "12:00")),
        overrides=(Override(MON, "10:00", "13:00"),), reviews=(4, 5)),
)

STUDENTS: tuple[DemoStudent, ...] = (
    DemoStudent("Sam Taylor", f"student1@{DEMO_DOMAIN}", "demo-password-1", "Europe/London"),
    DemoStudent("Maya Patel", f"student2@{DEMO_DOMAIN}", "demo-password-2", "America/New_York"),
)


@dataclass(frozen=True, slots=True)
class DemoLogin:
    role: str
    name: str
    email: str
    password: str
    detail: str


@dataclass(slots=True)
class SeedReport:
    """What a seeding run did; ``logins`` lists every demo account, new or not."""

    created: int = 0
    existing: int = 0
    logins: list[DemoLogin] = field(default_factory=list)


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def _next_week_date(tz: str, weekday: int, today: date | None = None) -> date:
    """The date of ``weekday`` in the week after the tutor's current local week."""
    today = today or datetime.now(ZoneInfo(tz)).date()
    monday_next_week = today + timedelta(days=7 - today.weekday())
    return monday_next_week + timedelta(days=weekday)


async def _existing_emails(session: Session, emails: list[str]) -> set[str]:
    rows = await session.execute(select(func.lower(User.email)).where(func.lower(User.email).in_(emails)))
    return set(rows.scalars())


async def _subject_ids(session: Session) -> dict[str, int]:
    await session.execute(insert(Subject).values([{"slug": s, "name": n} for s, n in SUBJECTS.items()])
                          .on_conflict_do_nothing(index_elements=["slug"]))
    rows = await session.execute(select(Subject.slug, Subject.id).where(Subject.slug.in_(SUBJECTS)))
    return {slug: subject_id for slug, subject_id in rows.tuples()}


async def _hash_all(passwords: dict[str, str]) -> dict[str, str]:
    """Argon2 hashes of ``{email: password}``, computed in threads (argon2 releases the GIL;
    one at a time this is most of a first seed's run time)."""
    emails = list(passwords)
    hashes = await asyncio.gather(*(asyncio.to_thread(hash_password, passwords[e]) for e in emails))
    return dict(zip(emails, hashes, strict=True))


async def _add_tutor(session: Session, tutor: DemoTutor, subject_ids: dict[str, int], password_hash: str,
                     ) -> uuid.UUID:
    user_id = uuid.uuid4()
    session.add(User(id=user_id, email=tutor.email, name=tutor.name, role="tutor",
                     password_hash=password_hash, email_verified=True, timezone=tutor.timezone))
    # Parents first: these models have foreign keys but no relationships to order the flush by.
    await session.flush()
    session.add(TutorProfile(
        user_id=user_id, headline=tutor.headline, bio=tutor.bio, hourly_rate_cents=tutor.hourly_rate_cents,
        currency=tutor.currency, timezone=tutor.timezone, lesson_minutes=list(tutor.lesson_minutes),
        min_notice_minutes=tutor.min_notice_minutes, buffer_minutes=tutor.buffer_minutes,
        max_advance_days=tutor.max_advance_days, trial_minutes=tutor.trial[0] if tutor.trial else None,
        trial_price_cents=tutor.trial[1] if tutor.trial else None))
    await session.flush()
    session.add_all(TutorSubject(tutor_id=user_id, subject_id=subject_ids[s]) for s in tutor.subjects)
    session.add_all(AvailabilityRule(tutor_id=user_id, weekday=day, start_minute=_minutes(h.start),
                                     end_minute=_minutes(h.end))
                    for h in tutor.hours for day in h.days)
    session.add_all(AvailabilityOverride(
        tutor_id=user_id, date=_next_week_date(tutor.timezone, o.weekday),
        start_minute=_minutes(o.start) if o.start else None, end_minute=_minutes(o.end) if o.end else None)
        for o in tutor.overrides)
    session.add(TutorVersion(tutor_id=user_id, version=0))
    session.add_all(LessonPackage(tutor_id=user_id, lessons=lessons, minutes=minutes, price_cents=price,
                                  currency=tutor.currency, active=True)
                    for lessons, minutes, price in tutor.packages)
    return user_id


REVIEW_COMMENTS = (
    "Explains things clearly and patiently; I finally get it.",
    None,
    "Well prepared, and the homework suggestions were spot on.",
    "Friendly and encouraging. Booking again next week.",
    None,
    "Great lesson, though it ran a little fast for me.",
)


async def _add_reviews(session: Session, tutor: DemoTutor, tutor_id: uuid.UUID, student_ids: list[uuid.UUID],
                       now: datetime) -> None:
    """Completed lessons in the past weeks, each reviewed by its student, and the tutor's totals."""
    for i, rating in enumerate(tutor.reviews):
        end = (now - timedelta(days=3 * (i + 1))).replace(minute=0, second=0, microsecond=0)
        minutes = min(tutor.lesson_minutes)
        start = end - timedelta(minutes=minutes)
        booking = Booking(id=uuid.uuid4(), tutor_id=tutor_id, student_id=student_ids[i % len(student_ids)],
                          status=BookingStatus.COMPLETED, start_at=start, end_at=end,
                          guarded=Range(start, end + timedelta(minutes=tutor.buffer_minutes), bounds="[)"),
                          price_cents=lesson_price(tutor.hourly_rate_cents, minutes), currency=tutor.currency,
                          payment_provider=PaymentProvider.TEST, payment_status=PaymentStatus.PAID)
        session.add(booking)
        await session.flush()
        session.add(Review(booking_id=booking.id, tutor_id=tutor_id, student_id=booking.student_id, rating=rating,
                           comment=REVIEW_COMMENTS[i % len(REVIEW_COMMENTS)], created_at=end + timedelta(hours=2)))
    await session.flush()
    await reviews_repository.adjust_totals(session, tutor_id, len(tutor.reviews), sum(tutor.reviews))


async def seed_demo(sessionmaker: Sessionmaker) -> SeedReport:
    """Create the demo tutors and students that do not exist yet; report every login."""
    report = SeedReport()
    async with unit_of_work(sessionmaker) as session:
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SEED_LOCK})
        existing = await _existing_emails(session, [t.email for t in TUTORS] + [s.email for s in STUDENTS])
        subject_ids = await _subject_ids(session)
        hashes = await _hash_all({**{s.email: s.password for s in STUDENTS if s.email not in existing},
                                  **{t.email: TUTOR_PASSWORD for t in TUTORS if t.email not in existing}})
        report.existing = len(existing)
        report.created = len(hashes)
        for student in STUDENTS:
            if student.email in hashes:
                session.add(User(email=student.email, name=student.name, role="student",
                                 password_hash=hashes[student.email], email_verified=True,
                                 timezone=student.timezone))
        await session.flush()
        student_ids = list(await session.scalars(
            select(User.id).where(User.email.in_([s.email for s in STUDENTS])).order_by(User.email)))
        now = datetime.now(UTC)
        for tutor in TUTORS:
            if tutor.email in hashes:
                tutor_id = await _add_tutor(session, tutor, subject_ids, hashes[tutor.email])
                await _add_reviews(session, tutor, tutor_id, student_ids, now)
    report.logins = [DemoLogin("student", s.name, s.email, s.password, s.timezone) for s in STUDENTS] + [
        DemoLogin("tutor", t.name, t.email, TUTOR_PASSWORD, f"{', '.join(t.subjects)} · {t.timezone}")
        for t in TUTORS]
    return report


def format_logins(logins: list[DemoLogin]) -> str:
    """A plain-text table of the demo accounts (no colours, fixed-width columns)."""
    header = ("role", "email", "password", "name", "")
    rows = [header] + [(x.role, x.email, x.password, x.name, x.detail) for x in logins]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4] for row in rows]
    return "\n".join(line.rstrip() for line in lines)
