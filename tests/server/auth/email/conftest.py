"""The integration fixtures: fake Google, Zoom and Brevo, and an app using them (tests/fixtures/integrations.py)."""

from tests.fixtures.integrations import fakes as fakes
from tests.fixtures.integrations import iapp as iapp
from tests.fixtures.integrations import ic as ic
from tests.fixtures.integrations import isettings as isettings
from tests.fixtures.integrations import reset_fakes as reset_fakes
from tests.fixtures.integrations import tasks as tasks
