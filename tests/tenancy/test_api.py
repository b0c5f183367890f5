"""Workspaces, members and tokens through the API: tokens, roles, errors."""

from __future__ import annotations

import httpx

from tests.support import Tenants


async def test_missing_malformed_and_revoked_tokens_get_401(
    client: httpx.AsyncClient, tenants: Tenants
) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"},
                    {"Authorization": f"Bearer {tenants.owner}x"}):
        r = await client.get("/api/v1/workspaces", headers=headers)
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "unauthorized"
        assert r.headers["www-authenticate"] == "Bearer"
    owner = Tenants.auth(tenants.owner)
    created = await client.post("/api/v1/workspaces/acme/tokens",
                                json={"name": "zapier", "role": "agent"}, headers=owner)
    assert created.status_code == 201
    token = created.json()["token"]
    assert (await client.get("/api/v1/me", headers=Tenants.auth(token))).json() == {
        "token": "zapier", "role": "agent", "workspace": "acme"}
    listed = await client.get("/api/v1/workspaces/acme/tokens", headers=owner)
    assert token not in listed.text  # shown once, never again
    r = await client.delete(f"/api/v1/workspaces/acme/tokens/{created.json()['id']}",
                            headers=owner)
    assert r.status_code == 204
    assert (await client.get("/api/v1/me", headers=Tenants.auth(token))).status_code == 401


async def test_expired_token_gets_401(client: httpx.AsyncClient, tenants: Tenants) -> None:
    r = await client.post("/api/v1/workspaces/acme/tokens",
                          json={"name": "old", "expires_at": "2020-01-01T00:00:00Z"},
                          headers=Tenants.auth(tenants.owner))
    assert (await client.get("/api/v1/me", headers=Tenants.auth(r.json()["token"]))
            ).status_code == 401


async def test_members(client: httpx.AsyncClient, tenants: Tenants) -> None:
    owner = Tenants.auth(tenants.owner)
    r = await client.post("/api/v1/workspaces/acme/members",
                          json={"email": "New@Acme.test", "role": "agent"}, headers=owner)
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "password"
    r = await client.post("/api/v1/workspaces/acme/members",
                          json={"email": "New@Acme.test", "role": "agent", "password": "short"},
                          headers=owner)
    assert r.status_code == 422
    r = await client.post("/api/v1/workspaces/acme/members",
                          json={"email": "New@Acme.test", "role": "agent",
                                "password": "a long enough pass"}, headers=owner)
    assert r.status_code == 201 and r.json()["email"] == "new@acme.test"
    again = await client.post("/api/v1/workspaces/acme/members",
                              json={"email": "new@acme.test", "role": "owner"}, headers=owner)
    assert again.status_code == 409
    # the same person may join another workspace without a new password
    r2 = await client.post("/api/v1/workspaces/other/members",
                           json={"email": "new@acme.test", "role": "agent"},
                           headers=Tenants.auth(tenants.outsider))
    assert r2.status_code == 201
    members = (await client.get("/api/v1/workspaces/acme/members", headers=owner)).json()
    owners = [m for m in members if m["role"] == "owner"]
    assert len(owners) == 1
    r = await client.patch(f"/api/v1/workspaces/acme/members/{owners[0]['id']}",
                           json={"role": "agent"}, headers=owner)
    assert r.status_code == 409  # the last owner stays
    r = await client.delete(f"/api/v1/workspaces/acme/members/{r2.json()['id']}", headers=owner)
    assert r.status_code == 404  # a member id of the other workspace


async def test_validation_errors_have_one_shape(
    client: httpx.AsyncClient, tenants: Tenants
) -> None:
    platform = Tenants.auth(tenants.platform)
    r = await client.post("/api/v1/workspaces", json={"slug": "Bad Slug!", "name": "x"},
                          headers=platform)
    assert r.status_code == 422
    assert r.json()["error"]["details"] == [{"field": "slug", "message": r.json()["error"][
        "details"][0]["message"]}]
    r = await client.post("/api/v1/workspaces", json={"slug": "acme", "name": "x"},
                          headers=platform)
    assert r.status_code == 409 and r.json()["error"]["code"] == "conflict"
    r = await client.post("/api/v1/workspaces", json={"slug": "ok", "name": "x", "bogus": 1},
                          headers=platform)
    assert r.status_code == 422
    r = await client.post("/api/v1/workspaces", content=b"{not json",
                          headers={**platform, "content-type": "application/json"})
    assert r.status_code == 422 and "error" in r.json()
    r = await client.get("/api/v1/nothing-here", headers=platform)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


async def test_openapi_document(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/api/openapi.json")).json()
    assert "/api/v1/workspaces/{slug}/panel/test" in doc["paths"]
    assert "/api/v1/workspaces/{slug}/tokens" in doc["paths"]
