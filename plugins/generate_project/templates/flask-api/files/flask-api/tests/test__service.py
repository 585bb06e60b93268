# Tests of what is not one resource: health, errors, CORS{{#features.auth}}, authentication{{/features.auth}}.
{{#features.auth}}
import time

import auth
from conftest import PASSWORD, SECRET, USER
{{/features.auth}}
import schema


def test_health(client):
    response = client.get("/health")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["resources"] == sorted(schema.RESOURCES)


def test_unknown_route_is_json_404(client, headers):
    response = client.get("/api/no_such_resource", headers=headers)
    assert response.status_code == 404
    assert response.get_json() == {"error": "not found"}


def test_cors_headers(client):
    response = client.get("/health")
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Authorization" in response.headers["Access-Control-Allow-Headers"]


def test_bad_paging_is_400(client, headers):
    for name in schema.RESOURCES:
        assert client.get("/api/%s?limit=zero" % name, headers=headers).status_code == 400
        assert client.get("/api/%s?limit=0" % name, headers=headers).status_code == 400
{{#features.admin}}


def test_admin_summary_counts_every_resource(client, headers):
    response = client.get("/api/admin/summary", headers=headers)
    assert response.status_code == 200
    assert response.get_json() == {name: 0 for name in schema.RESOURCES}
{{/features.admin}}
{{#features.auth}}


def test_login_issues_a_token(client):
    response = client.post("/auth/token", json={"username": USER, "password": PASSWORD})
    assert response.status_code == 200
    claims = auth.verify(SECRET, response.get_json()["access_token"])
    assert claims["sub"] == USER


def test_login_refuses_bad_credentials(client):
    assert client.post("/auth/token", json={"username": USER, "password": "wrong"}).status_code == 401
    assert client.post("/auth/token", json={"username": "nobody", "password": PASSWORD}).status_code == 401
    assert client.post("/auth/token", json={"username": USER}).status_code == 400


def test_api_requires_a_valid_token(client):
    for name in schema.RESOURCES:
        url = "/api/" + name
        assert client.get(url).status_code == 401
        assert client.get(url, headers={"Authorization": "Bearer not.a.token"}).status_code == 401
        forged = auth.issue("another-secret-of-some-length", USER)
        assert client.get(url, headers={"Authorization": "Bearer " + forged}).status_code == 401
        expired = auth.issue(SECRET, USER, ttl=10, now=time.time() - 3600)
        assert client.get(url, headers={"Authorization": "Bearer " + expired}).status_code == 401


def test_tokens_reject_tampering():
    token = auth.issue(SECRET, USER, claims={"admin": False})
    header, body, signature = token.split(".")
    other = auth.issue(SECRET, USER, claims={"admin": True}).split(".")[1]
    try:
        auth.verify(SECRET, ".".join([header, other, signature]))
    except auth.InvalidToken:
        pass
    else:
        raise AssertionError("a token with a swapped payload was accepted")


def test_app_refuses_to_start_without_a_secret(tmp_path):
    from app import create_app
    try:
        create_app({"DATABASE": str(tmp_path / "x.sqlite3"), "JWT_SECRET": ""})
    except RuntimeError as exc:
        assert "JWT_SECRET" in str(exc)
    else:
        raise AssertionError("the app started without a JWT secret")
{{/features.auth}}
