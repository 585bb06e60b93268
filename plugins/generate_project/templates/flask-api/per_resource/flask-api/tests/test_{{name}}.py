# Tests of /api/{{name}}: CRUD, validation of required fields and types.
import pytest

import schema

URL = "/api/{{name}}"
FIELDS = schema.RESOURCES["{{name}}"]["fields"]
SAMPLE = {
{{#fields}}
    "{{name}}": {{sample_py}},
{{/fields}}
}
OTHER = {
{{#fields}}
    "{{name}}": {{sample2_py}},
{{/fields}}
}


def create(client, headers, body=None):
    response = client.post(URL, json=SAMPLE if body is None else body, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_create_then_get(client, headers):
    item = create(client, headers)
    assert isinstance(item["id"], int)
    for key, value in SAMPLE.items():
        assert item[key] == value, key
    response = client.get("%s/%d" % (URL, item["id"]), headers=headers)
    assert response.status_code == 200
    assert response.get_json() == item


def test_list_returns_created_items_in_order(client, headers):
    first = create(client, headers)
    second = create(client, headers, OTHER)
    response = client.get(URL, headers=headers)
    assert response.status_code == 200
    assert [i["id"] for i in response.get_json()] == [first["id"], second["id"]]
    page = client.get(URL + "?limit=1&offset=1", headers=headers).get_json()
    assert [i["id"] for i in page] == [second["id"]]


def test_put_replaces_every_field(client, headers):
    item = create(client, headers)
    response = client.put("%s/%d" % (URL, item["id"]), json=OTHER, headers=headers)
    assert response.status_code == 200, response.get_json()
    updated = response.get_json()
    assert updated["id"] == item["id"]
    for key, value in OTHER.items():
        assert updated[key] == value, key


@pytest.mark.parametrize("field", [f.name for f in FIELDS])
def test_patch_changes_one_field(client, headers, field):
    item = create(client, headers)
    response = client.patch("%s/%d" % (URL, item["id"]), json={field: OTHER[field]}, headers=headers)
    assert response.status_code == 200, response.get_json()
    updated = response.get_json()
    assert updated[field] == OTHER[field]
    for key, value in SAMPLE.items():
        if key != field:
            assert updated[key] == value, key


def test_delete(client, headers):
    item = create(client, headers)
    url = "%s/%d" % (URL, item["id"])
    assert client.delete(url, headers=headers).status_code == 204
    assert client.get(url, headers=headers).status_code == 404
    assert client.delete(url, headers=headers).status_code == 404


def test_unknown_id_is_404(client, headers):
    assert client.get(URL + "/999999", headers=headers).status_code == 404
    assert client.put(URL + "/999999", json=SAMPLE, headers=headers).status_code == 404


@pytest.mark.parametrize("field", [f.name for f in FIELDS if f.required])
def test_required_fields(client, headers, field):
    body = {k: v for k, v in SAMPLE.items() if k != field}
    response = client.post(URL, json=body, headers=headers)
    assert response.status_code == 400
    assert response.get_json()["fields"][field] == "is required"
    body[field] = None
    assert client.post(URL, json=body, headers=headers).status_code == 400


@pytest.mark.parametrize("field", FIELDS, ids=[f.name for f in FIELDS])
def test_wrong_types_are_refused(client, headers, field):
    body = dict(SAMPLE, **{field.name: schema.invalid_value(field.type)})
    response = client.post(URL, json=body, headers=headers)
    assert response.status_code == 400
    assert field.name in response.get_json()["fields"]
    item = create(client, headers)
    response = client.patch("%s/%d" % (URL, item["id"]), json={field.name: schema.invalid_value(field.type)}, headers=headers)
    assert response.status_code == 400
    assert client.get("%s/%d" % (URL, item["id"]), headers=headers).get_json() == item


def test_unknown_fields_and_bad_bodies_are_refused(client, headers):
    response = client.post(URL, json=dict(SAMPLE, not_a_field=1), headers=headers)
    assert response.status_code == 400
    assert "not_a_field" in response.get_json()["fields"]
    assert client.post(URL, json=[SAMPLE], headers=headers).status_code == 400
    assert client.post(URL, data="not json", headers=headers).status_code == 400
