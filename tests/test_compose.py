"""docker-compose.yml and the Dockerfiles, checked by reading them (Docker cannot run here)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_TEXT = (ROOT / "docker-compose.yml").read_text()
COMPOSE: dict[str, Any] = yaml.safe_load(COMPOSE_TEXT)
SERVICES: dict[str, Any] = COMPOSE["services"]
README = (ROOT / "README.md").read_text()
PYTHON_SERVICES = ("migrate", "api", "worker", "scheduler")


def _depends(service: str) -> dict[str, str]:
    deps = SERVICES[service].get("depends_on", {})
    return {name: spec["condition"] for name, spec in deps.items()}


def test_every_platform_service_is_defined() -> None:
    assert set(SERVICES) == {"postgres", "redis", "minio", "minio-init", "migrate", "api", "worker", "scheduler",
                             "frontend"}
    assert SERVICES["postgres"]["image"] == "postgres:17"
    assert SERVICES["redis"]["image"] == "redis:7"
    assert SERVICES["minio-init"]["image"].startswith("minio/mc")


@pytest.mark.parametrize("service", ["postgres", "redis", "minio", "api"])
def test_long_running_dependencies_have_healthchecks(service: str) -> None:
    assert SERVICES[service]["healthcheck"]["test"]


def test_python_services_run_the_edustream_image_with_their_subcommand() -> None:
    for name in PYTHON_SERVICES:
        service = SERVICES[name]
        assert service["build"]["dockerfile"] == "Dockerfile"
        assert service["command"][0] == name
    assert SERVICES["api"]["command"] == ["api", "--host", "0.0.0.0", "--port", "8000"]
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", dockerfile, re.MULTILINE)
    assert re.search(r"^USER edustream$", dockerfile, re.MULTILINE)
    assert 'ENTRYPOINT ["edustream"]' in dockerfile


def test_schema_is_migrated_once_before_anything_uses_it() -> None:
    assert _depends("migrate") == {"postgres": "service_healthy", "redis": "service_healthy"}
    for name in ("api", "worker", "scheduler"):
        assert _depends(name)["migrate"] == "service_completed_successfully"
        assert _depends(name)["redis"] == "service_healthy"
    assert _depends("api")["minio-init"] == "service_completed_successfully"
    assert _depends("minio-init") == {"minio": "service_healthy"}
    assert _depends("frontend") == {"api": "service_healthy"}
    assert SERVICES["migrate"]["restart"] == "no"


def test_minio_init_creates_the_bucket() -> None:
    script = " ".join(SERVICES["minio-init"]["command"])
    assert "mc mb --ignore-existing" in script and "$$S3_BUCKET" in script


def test_python_services_get_the_storage_and_secret_settings() -> None:
    for name in PYTHON_SERVICES:
        env = SERVICES[name]["environment"]
        for key in ("DATABASE_URL", "REDIS_URL", "ENVIRONMENT", "SECRET_KEY", "STRIPE_SECRET_KEY",
                    "STRIPE_WEBHOOK_SECRET", "S3_ENDPOINT_URL", "S3_BUCKET"):
            assert key in env, (name, key)
        assert env["DATABASE_URL"].startswith("postgresql://") and "@postgres:5432/" in env["DATABASE_URL"]
        assert env["REDIS_URL"] == "redis://redis:6379/0"


def test_frontend_builds_its_own_dockerfile() -> None:
    frontend = SERVICES["frontend"]
    assert frontend["build"] == {"context": "./frontend", "dockerfile": "Dockerfile",
                                 "args": {"NEXT_PUBLIC_API_URL": "${PUBLIC_URL:-http://localhost:8000}"}}
    dockerfile = (ROOT / "frontend" / "Dockerfile").read_text()
    assert dockerfile.count("FROM node:20-alpine") >= 2
    assert "npm ci" in dockerfile and "npm run build" in dockerfile
    assert re.search(r'CMD \[.*next/dist/bin/next", "start"', dockerfile)


def _documented_names() -> set[str]:
    """Names in backticks in the README or the configuration reference it links."""
    reference = (ROOT / "docs" / "configuration.md").read_text()
    return set(re.findall(r"`([A-Z][A-Z0-9_]+)`", README + reference))


def test_every_variable_the_services_use_is_documented() -> None:
    used: set[str] = set()
    for service in SERVICES.values():
        env = service.get("environment", {})
        used |= set(env if isinstance(env, dict) else (item.split("=", 1)[0] for item in env))
        used |= set(service.get("build", {}).get("args", {}) if isinstance(service.get("build"), dict) else ())
    uncommented = "\n".join(line for line in COMPOSE_TEXT.splitlines() if not line.lstrip().startswith("#"))
    used |= set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", uncommented))
    assert used - _documented_names() == set()


def test_jaeger_is_present_but_commented_out() -> None:
    assert "jaeger" not in SERVICES
    commented = [line.strip() for line in COMPOSE_TEXT.splitlines() if line.lstrip().startswith("#")]
    assert "# jaeger:" in commented
    assert any("image: jaegertracing/all-in-one" in line for line in commented)
    assert any('"16686:16686"' in line for line in commented) and any('"4317:4317"' in line for line in commented)
    hint = " ".join(commented)
    for setting in ("TRACING_ENABLED=true", "TRACING_EXPORTER=jaeger", "JAEGER_AGENT_HOST=jaeger"):
        assert setting in hint


def test_the_api_gets_a_scoped_minio_user_never_the_root_credentials() -> None:
    env = COMPOSE["x-edustream-env"]
    assert env["S3_ACCESS_KEY_ID"] == "${MINIO_API_USER:-edustream-api}"
    assert env["S3_SECRET_ACCESS_KEY"].startswith("${MINIO_API_PASSWORD:?")
    for name in PYTHON_SERVICES:
        service = SERVICES[name]
        assert not any("MINIO_ROOT" in str(value) for value in service["environment"].values()), name
        assert [f["path"] for f in service["env_file"]] == [".env"], name
    # The root credentials come from a file only MinIO and its init container read.
    for name in ("minio", "minio-init"):
        assert SERVICES[name]["env_file"] == [{"path": "minio.env", "required": True}]
        assert "MINIO_ROOT_PASSWORD" not in SERVICES[name].get("environment", {})
    assert not [line for line in COMPOSE_TEXT.splitlines()
                if "${MINIO_ROOT" in line and not line.lstrip().startswith("#")]
    for ignore in (".gitignore", ".dockerignore"):
        assert "minio.env" in (ROOT / ignore).read_text().splitlines()


def test_minio_init_creates_the_api_user_with_a_bucket_only_policy() -> None:
    script = " ".join(SERVICES["minio-init"]["command"])
    assert script.startswith("set -e;")
    assert 'mc admin user add local "$$MINIO_API_USER" "$$MINIO_API_PASSWORD"' in script
    assert "mc admin policy create local edustream-api" in script
    assert 'mc admin policy attach local edustream-api --user "$$MINIO_API_USER"' in script
    policy = json.loads(re.search(r"printf '(.*?)'", script).group(1).replace("%s", "edustream"))  # type: ignore[union-attr]
    resources = {r for statement in policy["Statement"] for r in statement["Resource"]}
    actions = {a for statement in policy["Statement"] for a in statement["Action"]}
    assert resources == {"arn:aws:s3:::edustream/*", "arn:aws:s3:::edustream"}
    assert actions == {"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket", "s3:GetBucketLocation"}
    assert all(statement["Effect"] == "Allow" for statement in policy["Statement"])


def test_the_minio_console_is_not_published() -> None:
    ports = [str(p) for service in SERVICES.values() for p in service.get("ports", [])]
    assert not any("9001" in p for p in ports)
    assert SERVICES["minio"]["ports"] == ["9000:9000"]
