"""The file-store fixtures (tests/fixtures/storage.py)."""

from tests.fixtures.storage import s3_url as s3_url
from tests.fixtures.storage import sapp as sapp
from tests.fixtures.storage import sc as sc
