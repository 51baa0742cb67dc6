"""Messages between students and tutors: conversations, unread counts, read receipts."""
