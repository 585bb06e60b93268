# Fixtures of the API tests: one app for the whole session (sqlite3 in memory,
# or TEST_DATABASE_URL when set), its store emptied around every test so each
# test starts from empty tables. Building the app once keeps the suite fast
# when a project has dozens of resources.
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from app import create_app  # noqa: E402

SECRET = "test-secret-for-the-generated-api"
USER, PASSWORD = "tester", "correct horse battery staple"


@pytest.fixture(scope="session")
def shared_app():
    database = os.environ.get("TEST_DATABASE_URL") or ":memory:"
    application = create_app({"TESTING": True, "DATABASE": database, "JWT_SECRET": SECRET,
                              "API_USER": USER, "API_PASSWORD": PASSWORD})
    yield application
    application.extensions["store"].close()


@pytest.fixture
def app(shared_app):
    store = shared_app.extensions["store"]
    store.clear()
    yield shared_app
    store.clear()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def headers(client):
{{#features.auth}}
    response = client.post("/auth/token", json={"username": USER, "password": PASSWORD})
    assert response.status_code == 200, response.get_json()
    return {"Authorization": "Bearer " + response.get_json()["access_token"]}
{{/features.auth}}
{{^features.auth}}
    return {}
{{/features.auth}}
