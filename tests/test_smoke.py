def test_login_and_dashboard(client, make_org, login_as):
    _organization, admin = make_org()
    login_as(admin)
    response = client.get("/")
    assert response.status_code == 200
    assert b"Dashboard" in response.data
